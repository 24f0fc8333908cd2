"""A report whose called person leaves the roster is called anew, at once, in the transaction that
took them off (hooks.cancelled, after their calls are cancelled under the reports' locks): the
office's call goes to whoever now answers for the office above the region (as for a new report),
a department's to its other people, or with nobody left to the county's officer on duty."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.call import hooks
from app.hazard import chase
from app.hazard.calls import department_people, make_calls, to_office
from app.hazard.chain import event, record
from app.models.call import Call
from app.models.hazard import OPEN, STEPS, Hazard, HazardDispatch

LEFT = "the person called left the roster"
SHORTEST_S = 60.0  # a department called anew has at least this long to report in


async def on_cancelled(session: AsyncSession, cancelled: list[hooks.Cancelled], now: datetime) -> None:
    by_report: dict[str, list[hooks.Cancelled]] = {}
    for call in cancelled:
        by_report.setdefault(call.hazard_id, []).append(call)
    for hazard_id in sorted(by_report):
        hazard = await session.scalar(
            select(Hazard).where(Hazard.id == hazard_id).with_for_update().execution_options(populate_existing=True)
        )
        if hazard is None or hazard.status not in OPEN:
            continue
        calls = by_report[hazard_id]
        events = await _office_anew(session, hazard, calls, now)
        events += await _departments_anew(session, hazard, calls, now)
        await record(session, hazard, events, now)


async def _office_anew(
    session: AsyncSession, hazard: Hazard, calls: list[hooks.Cancelled], now: datetime
) -> list[audit_service.Event]:
    """Nobody of the office is asked any more and the report is not yet taken: ask again."""
    office_steps = ("receive", "escalate")
    if not any(c.department_id is None and c.hazard_step in office_steps for c in calls):
        return []
    if hazard.status not in STEPS["receive"]:
        return []
    if await chase.still_open(session, hazard, Call.department_id.is_(None), Call.hazard_step.in_(office_steps)):
        return []
    events = [event(hazard, "hazard.rerouted", "roster", reason=LEFT, from_office=hazard.office_code)]
    return events + await to_office(session, hazard, step="receive", now=now)


async def _departments_anew(
    session: AsyncSession, hazard: Hazard, calls: list[hooks.Cancelled], now: datetime
) -> list[audit_service.Event]:
    """A department nobody of which is asked any more and that has not reported in: its other
    people, or with none left, the county's officer on duty (督办)."""
    events: list[audit_service.Event] = []
    nobody_left: list[hooks.Cancelled] = []
    for department_id in sorted({c.department_id for c in calls if c.hazard_step == "dispatch" and c.department_id}):
        if await chase.still_open(session, hazard, Call.department_id == department_id):
            continue
        dispatch = await session.scalar(
            select(HazardDispatch).where(HazardDispatch.hazard_id == hazard.id,
                                         HazardDispatch.department_id == department_id)
            .order_by(HazardDispatch.id.desc()).limit(1)
        )  # fmt: skip
        if dispatch is None or dispatch.reported_in_at is not None or dispatch.escalated_at is not None:
            continue
        people = await department_people(session, department_id, now=now)
        if not people:
            nobody_left += [c for c in calls if c.department_id == department_id]
            continue
        seconds = max((dispatch.deadline_at - now).total_seconds(), SHORTEST_S)
        events.append(event(hazard, "hazard.rerouted", "roster", reason=LEFT, department_id=department_id,
                            department=dispatch.department_name, to=[p["name"] for p in people]))  # fmt: skip
        events += await make_calls(session, hazard, people, step="dispatch", seconds=seconds, now=now,
                                   department_id=department_id)  # fmt: skip
    return events + await chase.bring_to_county(session, hazard, nobody_left, now)
