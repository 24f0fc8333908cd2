"""The words of calls about hazard reports (kind `hazard`): the office asked to take the report
(接报), a department a whistle called (报到), or the county's officer told that either is late."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.channels import CHANNELS
from app.i18n import SOURCE, SPOKEN, catalog
from app.models.hazard import Hazard, HazardDispatch
from app.notify import templates
from app.policy.snapshot import PolicySnapshot


@dataclass
class Report:
    """A hazard report as its calls' messages need it: its ladder, level and words."""

    hazard: Hazard
    instructions: dict[str, str] = field(default_factory=dict)  # department id -> the whistle's instruction
    departments: dict[str, str] = field(default_factory=dict)  # department id -> its name

    @property
    def level(self) -> str:
        return self.hazard.level

    def policy(self, call: Any) -> PolicySnapshot:
        """The report's ladder, spread over this call's own time to answer (a whistle sets its own)."""
        return PolicySnapshot.of(self.hazard.policy).within((call.deadline_at - call.created_at) / timedelta(seconds=1))

    def ask(self, call: Any) -> str:
        step = str(call.hazard_step or "receive")
        return "escalate_department" if step == "escalate" and call.department_id else step

    def detail(self, call: Any, lang: str) -> str:
        """What the call says beyond the report's headline: the report itself, the whistle's
        instruction to a department, or which department is late."""
        ask = self.ask(call)
        if ask == "dispatch":
            return self.instructions.get(call.department_id, "")
        if ask == "escalate_department":
            _ = catalog(lang)
            return _("{department}未按时报到", department=self.departments.get(call.department_id) or _("部门"))
        return self.hazard.description

    def texts(self, call: Any, *, signature: str, link_length: int, lang: str = SOURCE) -> dict[str, str]:
        """Each channel's text for an attempt of the call, in the person's language (speech in
        Chinese where the voice services do not speak it)."""
        hazard, ask, spoken = self.hazard, self.ask(call), lang if lang in SPOKEN else SOURCE
        words: dict[str, Any] = {"place": hazard.place, "category": hazard.category, "ask": ask,
                                 "urgent": hazard.urgent}  # fmt: skip
        forms = {
            "text": templates.hazard_sms(signature=signature, link_length=link_length, lang=lang,
                                         detail=self.detail(call, lang), **words),
            "speech": templates.hazard_voice(lang=spoken, detail=self.detail(call, spoken), **words),
        }  # fmt: skip
        return {name: forms[channel.form] for name, channel in CHANNELS.items()}


async def reports_of(session: AsyncSession, hazard_ids: Sequence[str]) -> dict[str, Report]:
    """The reports of some calls, with their whistles' instructions."""
    if not hazard_ids:
        return {}
    found = {h.id: Report(h) for h in await session.scalars(select(Hazard).where(Hazard.id.in_(hazard_ids)))}
    dispatches = select(HazardDispatch).where(HazardDispatch.hazard_id.in_(hazard_ids)).order_by(HazardDispatch.id)
    for dispatch in await session.scalars(dispatches):
        found[dispatch.hazard_id].instructions[dispatch.department_id] = dispatch.instruction
        found[dispatch.hazard_id].departments[dispatch.department_id] = dispatch.department_name
    return found
