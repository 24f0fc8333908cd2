"""Answers to a report's calls move it on: the office's is 接报, a department's is its 报到."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.call import hooks
from app.hazard.calls import cancel_calls
from app.hazard.chain import event, record
from app.models.call import Call
from app.models.hazard import STEPS, Hazard, HazardDispatch


async def on_answered(session: AsyncSession, answered: list[hooks.Answered], now: datetime) -> None:
    """A call about a report answered: the office's is 接报 (the report received), a department's
    is its 报到; the others of the same step stop."""
    for answer in answered:
        call = await session.get_one(Call, answer.call_id)
        hazard = await session.scalar(
            select(Hazard)
            .where(Hazard.id == call.hazard_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if hazard is None:
            continue
        events: list[audit_service.Event] = []
        if call.hazard_step == "dispatch":
            events += await _reported_in(session, hazard, call, answer, now)
        elif call.hazard_step == "escalate" and call.department_id:  # the county's officer took on 督办
            events.append(event(hazard, "hazard.escalation_taken", answer.actor, call_id=call.id,
                                department_id=call.department_id, method=answer.method))  # fmt: skip
        elif call.hazard_step in ("receive", "escalate"):
            taking = hazard.status in STEPS["receive"] or hazard.received_at is None
            if taking:
                if hazard.status in STEPS["receive"]:
                    hazard.status = "received"
                hazard.received_at = hazard.received_at or now
                received = event(hazard, "hazard.received", answer.actor, call_id=call.id, method=answer.method)
                events.append(received)
                same_step = (Call.hazard_step.in_(("receive", "escalate")), Call.department_id.is_(None))
                events += await cancel_calls(session, hazard, f"taken by {answer.actor}", now, *same_step)
        await record(session, hazard, events, now)


async def _reported_in(
    session: AsyncSession, hazard: Hazard, call: Call, answer: hooks.Answered, now: datetime
) -> list[audit_service.Event]:
    dispatch = await session.scalar(
        select(HazardDispatch)
        .where(HazardDispatch.hazard_id == hazard.id, HazardDispatch.department_id == call.department_id)
        .order_by(HazardDispatch.id.desc())
        .limit(1)
    )
    if dispatch is None or dispatch.reported_in_at is not None:
        return []
    dispatch.reported_in_at = now
    late = now > dispatch.deadline_at
    events = [event(hazard, "hazard.reported_in", answer.actor, department_id=call.department_id,
                    department=dispatch.department_name, call_id=call.id, method=answer.method, late=late)]  # fmt: skip
    events += await cancel_calls(session, hazard, f"{dispatch.department_name} reported in", now,
                                 Call.department_id == call.department_id)  # fmt: skip
    return events
