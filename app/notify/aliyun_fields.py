"""What an Aliyun template says, read from the record: each message's variables (each 1 to 35
characters, as Aliyun allows) and which approved template it goes as. The templates a county
submits are in the README; a warning's messages read their warning and call, a report's its report
and call, a report link its contact's region."""

from dataclasses import dataclass

from sqlalchemy import select

from app.db import session_scope
from app.models.call import Call
from app.models.contact import Contact
from app.models.region import Region
from app.models.warning import Warning, WarningRegion
from app.notify import hazard_texts
from app.notify.base import Outgoing
from app.notify.templates import HAZARD_ASKS, LEVEL_NAMES, listing

VARIABLE_MAX = 35  # characters in one template variable


def cut(value: str, limit: int = VARIABLE_MAX) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


@dataclass
class Fields:
    """What a message's template needs, read from its warning and call (or its report, or the
    contact a report link goes to)."""

    hazard: str
    mode: str
    area: str
    count: int  # regions an escalation is about
    title: str | None = None  # a hazard report's (紧急险情：山体滑坡) or a report link's own title
    ask: str | None = None  # what a call about a report asks (请接报, 请报到, 自然资源局未按时报到，请督办 ...)


async def fields_of(batch: list[Outgoing]) -> dict[str, Fields]:
    """Each message's template fields, by message id: two reads for the batch."""
    call_ids = sorted({m.call_id for m in batch if m.call_id is not None})
    async with session_scope(read_only=True) as session:
        rows = (
            await session.execute(
                select(Call.id, Call.kind, Call.region_codes, Call.about_region_codes, Warning.hazard, Warning.mode,
                       Warning.id).join(Warning, Warning.id == Call.warning_id).where(Call.id.in_(call_ids))
            )
        ).tuples().all()  # fmt: skip
        codes = {code for row in rows for code in (*row[2], *row[3])}
        named = await session.execute(
            select(WarningRegion.warning_id, WarningRegion.region_code, WarningRegion.name).where(
                WarningRegion.warning_id.in_({row[6] for row in rows}), WarningRegion.region_code.in_(codes)
            )
        )
        names = {(warning_id, code): name for warning_id, code, name in named.tuples()}
    by_call: dict[str, Fields] = {}
    for call_id, kind, region_codes, about, hazard, mode, warning_id in rows:
        own = [names[(warning_id, code)] for code in region_codes if (warning_id, code) in names]
        if kind == "escalation":
            silent = [names.get((warning_id, code), code) for code in about]
            area = _fitted_listing(silent)
        else:
            area = own[0] if len(own) == 1 else (f"{cut(own[0], 28)}等{len(own)}地" if own else "")
        by_call[call_id] = Fields(hazard=cut(hazard), mode=mode, area=cut(area), count=len(about))
    found = {m.message_id: by_call[m.call_id] for m in batch if m.call_id in by_call}
    return found | await _report_fields(batch)


async def _report_fields(batch: list[Outgoing]) -> dict[str, Fields]:
    """The fields of messages about hazard reports (by their call) and of report links (by the
    contact's region): the title and the place."""
    call_ids = sorted({m.call_id for m in batch if m.hazard_id is not None and m.call_id is not None})
    contact_ids = sorted({m.contact_id for m in batch if m.call_id is None and m.contact_id is not None})
    if not call_ids and not contact_ids:
        return {}
    async with session_scope(read_only=True) as session:
        calls = list(await session.scalars(select(Call).where(Call.id.in_(call_ids)))) if call_ids else []
        reports = await hazard_texts.reports_of(session, sorted({call.hazard_id for call in calls if call.hazard_id}))
        places = dict((await session.execute(
            select(Contact.id, Region.name).join(Region, Region.code == Contact.region_code)
            .where(Contact.id.in_(contact_ids))
        )).tuples().all()) if contact_ids else {}  # fmt: skip
    by_call = {}
    for call in calls:
        report = reports[str(call.hazard_id)]
        hazard, step = report.hazard, report.ask(call)
        ask = HAZARD_ASKS[step][0]
        if step == "escalate_department":  # which department is late
            ask = f"{report.departments.get(call.department_id or '', '部门')}未按时报到，{ask}"
        by_call[call.id] = Fields(hazard=cut(hazard.category), mode="actual", area=cut(hazard.place), count=0,
                                  title=cut(f"{'紧急' if hazard.urgent else ''}险情：{hazard.category}"),
                                  ask=cut(ask))  # fmt: skip
    found = {m.message_id: by_call[m.call_id] for m in batch if m.call_id in by_call}
    for m in batch:
        if m.call_id is None and m.contact_id in places:
            found[m.message_id] = Fields(hazard="", mode="actual", area=cut(places[m.contact_id]), count=0,
                                         title="险情上报链接")  # fmt: skip
    return found


def _fitted_listing(names: list[str]) -> str:
    """As many names as fit one variable, and how many in all (南村、北村等40处)."""
    for keep in range(len(names), 0, -1):
        shown = listing(names, keep)
        if len(shown) <= VARIABLE_MAX:
            return shown
    return f"{len(names)}处"


def template_kind(message: Outgoing, fields: Fields) -> str:
    """Which approved template a message goes as: an exercise's calls go as the exercise template,
    a report's calls as `hazard`, a report link as `report_link`."""
    if fields.mode == "exercise" and message.kind in ("alert", "escalation"):
        return "exercise"
    return message.kind


def title(message: Outgoing, fields: Fields) -> str:
    """暴雨红色预警, as the core texts say it; an exercise's notices say it is one. A report's
    message has its own (紧急险情：山体滑坡)."""
    if fields.title is not None:
        return fields.title
    level = LEVEL_NAMES.get(message.level, message.level)
    drill = "（演练）" if fields.mode == "exercise" and message.kind in ("lifting", "withdrawal") else ""
    return drill + cut(fields.hazard, VARIABLE_MAX - len(drill) - 4) + f"{level}预警"


def speech_variables(message: Outgoing, fields: Fields) -> dict[str, str]:
    """A voice template's variables: few and short (the list of places is in the SMS)."""
    values = {"title": title(message, fields)}
    if message.kind == "escalation":
        values["count"] = str(max(fields.count, 1))
    if message.kind == "hazard":
        values |= {"area": fields.area or "辖区", "ask": fields.ask or "请处理"}
    return values


def variables(message: Outgoing, fields: Fields) -> dict[str, str]:
    """The template variables of one message: each 1 to 35 characters, as Aliyun allows."""
    values = {"title": title(message, fields), "area": fields.area or "辖区"}
    if fields.ask:
        values["ask"] = fields.ask
    if message.ack_url:
        values["token"] = message.ack_url.rsplit("/", 1)[1]
    return values
