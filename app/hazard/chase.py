"""The heartbeat's part for reports: calls about reports past their deadline go unanswered, and
what is left undone goes up. An office that does not take a report (接报) passes it to the office
above (up to the county); a department that does not report in (报到) by the whistle's deadline is
brought to the county's officer on duty (督办). One report per transaction, under its row lock."""

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.call import chase as call_chase
from app.call import routing
from app.hazard.calls import TO_RECEIVE_S, make_calls
from app.hazard.chain import event, record
from app.models.call import IS_OPEN, Call
from app.models.department import Department
from app.models.hazard import OPEN, STEPS, Hazard, HazardDispatch


async def due_hazard_ids(
    session: AsyncSession, *, now: datetime, skip: Collection[str] = (), limit: int = 100
) -> list[str]:
    # Reads the partial index of open calls about reports (ix_calls_open_hazard_deadline_at).
    query = select(Call.hazard_id).where(Call.hazard_id.is_not(None), IS_OPEN, Call.deadline_at <= now)
    if skip:
        query = query.where(Call.hazard_id.not_in(sorted(skip)))
    return sorted({h for h in (await session.execute(query.limit(limit))).scalars() if h is not None})


async def chase_due(*, now: datetime, rounds: int = 10) -> int:
    """Chase every report with calls past their deadline, one transaction each."""
    return await call_chase.chase_in_turn(due_hazard_ids, chase, now=now, rounds=rounds, what="hazard report")


async def chase(session: AsyncSession, hazard_id: str, *, now: datetime) -> None:
    hazard = await session.scalar(
        select(Hazard).where(Hazard.id == hazard_id).with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )  # fmt: skip
    if hazard is None:
        return
    closed = (await session.execute(
        update(Call).where(Call.hazard_id == hazard.id, IS_OPEN, Call.deadline_at <= now)
        .values(status="unanswered", next_attempt_at=None)
        .returning(Call.id, Call.hazard_step, Call.department_id, Call.contact_region_code, Call.attempts)
    )).all()  # fmt: skip
    events = [
        audit_service.Event(type="call.unanswered", actor="scheduler", hazard_id=hazard.id, call_id=c.id,
                            region_code=c.contact_region_code, data={"kind": "hazard", "step": c.hazard_step,
                                                                     "attempts": c.attempts})
        for c in sorted(closed, key=lambda c: c.id)
    ]  # fmt: skip
    if hazard.status in OPEN:
        events += await _pass_up(session, hazard, [c for c in closed if c.department_id is None], now)
        events += await bring_to_county(session, hazard, [c for c in closed if c.hazard_step == "dispatch"], now)
    await record(session, hazard, events, now)


async def still_open(session: AsyncSession, hazard: Hazard, *conditions: Any) -> bool:
    query = select(Call.id).where(Call.hazard_id == hazard.id, IS_OPEN, *conditions).limit(1)
    return await session.scalar(query) is not None


async def _pass_up(
    session: AsyncSession, hazard: Hazard, closed: list[Any], now: datetime
) -> list[audit_service.Event]:
    """Nobody at the office took the report: the office above is called, up to the county."""
    office_calls = [c for c in closed if c.hazard_step in ("receive", "escalate")]
    if not office_calls or hazard.status not in STEPS["receive"] or hazard.office_code is None:
        return []
    if await still_open(session, hazard, Call.department_id.is_(None), Call.hazard_step.in_(("receive", "escalate"))):
        return []
    found = await routing.recipients(
        session, {hazard.office_code}, above_county=False, with_leader=hazard.urgent, now=now, supervisors=False
    )
    people = found.get(hazard.office_code, [])
    if not people:
        return [event(hazard, "hazard.unreachable", "scheduler", reason="nobody took the report, nobody above")]
    passed_from, hazard.office_code = hazard.office_code, people[0]["region_code"]
    events = [event(hazard, "hazard.escalated", "scheduler", reason="not received", from_office=passed_from,
                    to_office=hazard.office_code, to=[p["name"] for p in people])]  # fmt: skip
    return events + await make_calls(session, hazard, people, step="escalate", seconds=TO_RECEIVE_S[hazard.urgent],
                                     now=now, escalated_from=min(c.id for c in office_calls))  # fmt: skip


async def bring_to_county(
    session: AsyncSession, hazard: Hazard, closed: list[Any], now: datetime
) -> list[audit_service.Event]:
    """A department that has not reported in by the deadline: the county's officer on duty is told."""
    events: list[audit_service.Event] = []
    for department_id in sorted({c.department_id for c in closed}):
        dispatch = await session.scalar(
            select(HazardDispatch).where(HazardDispatch.hazard_id == hazard.id,
                                         HazardDispatch.department_id == department_id)
            .order_by(HazardDispatch.id.desc()).limit(1)
        )  # fmt: skip
        if dispatch is None or dispatch.reported_in_at is not None or dispatch.escalated_at is not None:
            continue
        if await still_open(session, hazard, Call.department_id == department_id):
            continue
        department = await session.get_one(Department, department_id)
        people = await routing.answering_for(session, department.region_code, with_leader=hazard.urgent, now=now)
        dispatch.escalated_at = now
        names = [p["name"] for p in people]
        events.append(event(hazard, "hazard.escalated", "scheduler", reason="not reported in",
                            department_id=department_id, department=department.name, to=names))  # fmt: skip
        if people:
            first = min(c.id for c in closed if c.department_id == department_id)
            events += await make_calls(session, hazard, people, step="escalate", seconds=TO_RECEIVE_S[hazard.urgent],
                                       now=now, department_id=department_id, escalated_from=first)  # fmt: skip
    return events
