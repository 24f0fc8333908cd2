"""Calls about a hazard report (kind `hazard`): who is called (the office above the region, a
department's people, the reporter), and the calls stored as the warnings' calls are, on the same
ladder, links and answers, with `hazard_id` instead of `warning_id` and the step they ask for."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.bulk import bulk_insert
from app.call import metrics as call_metrics
from app.call import routing, tokens
from app.duty import service as duty_service
from app.hazard.chain import event
from app.ids import new_id
from app.models.call import IS_OPEN, Call, CallToken
from app.models.call import priority as call_priority
from app.models.contact import Contact
from app.models.hazard import Hazard
from app.region import service as region_service

# How long the office has to take a report: minutes for an urgent one (the red ladder), an hour
# for the others (the orange ladder).
TO_RECEIVE_S = {True: 15 * 60, False: 60 * 60}


def reporter(hazard: Hazard) -> dict[str, Any]:
    """The person who reported, as a call is made to them (for 末端评价)."""
    return {"id": hazard.reporter_contact_id or "", "name": hazard.reporter_name or "报告人",
            "phone": hazard.reporter_phone, "region_code": hazard.region_code, "role": "报告人", "rank": 1,
            "channels": ["sms"]}  # fmt: skip


async def make_calls(
    session: AsyncSession,
    hazard: Hazard,
    people: list[dict[str, Any]],
    *,
    step: str,
    seconds: float,
    now: datetime,
    department_id: str | None = None,
    escalated_from: str | None = None,
) -> list[audit_service.Event]:
    """Store a call to each person about the report, asking for `step`, with `seconds` to answer;
    returns their `call.created` events for the report's chain."""
    rows = [
        {
            "id": new_id(), "warning_id": None, "hazard_id": hazard.id, "hazard_step": step,
            "department_id": department_id, "kind": "hazard",
            "priority": call_priority(hazard.level, "hazard", retry=False), "contact_id": person["id"],
            "contact_name": person["name"], "contact_phone": person["phone"],
            "contact_region_code": person["region_code"], "contact_role": person["role"],
            "contact_rank": person["rank"], "channels": person["channels"],
            "region_codes": [person["region_code"]], "about_region_codes": [hazard.region_code],
            "escalated_from": escalated_from, "status": "pending", "attempts": 0, "next_attempt_at": now,
            "deadline_at": now + timedelta(seconds=seconds), "created_at": now, "closed_at": None, "late": False,
            "feedback_count": 0,
        }
        for person in people
    ]  # fmt: skip
    await bulk_insert(session, Call, rows)
    secret = tokens.instance_secret()
    await bulk_insert(session, CallToken, [tokens.token_row(secret, row["id"]) for row in rows])
    call_metrics.CALLS_CREATED.labels("hazard").inc(len(rows))
    return [
        audit_service.Event(
            type="call.created", actor="scheduler" if escalated_from else "hazard", hazard_id=hazard.id,
            call_id=row["id"], region_code=row["contact_region_code"],
            data={"kind": "hazard", "step": step, "contact_id": row["contact_id"], "name": row["contact_name"],
                  "phone": row["contact_phone"], "role": row["contact_role"], "department_id": department_id,
                  "deadline_at": row["deadline_at"].isoformat(), **routing.why(person)},
        )
        for row, person in zip(rows, people, strict=True)
    ]  # fmt: skip


async def cancel_calls(
    session: AsyncSession, hazard: Hazard, reason: str, now: datetime, *conditions: Any
) -> list[audit_service.Event]:
    """Cancel the report's open calls (those of `conditions`); returns their `call.cancelled` events."""
    closed = (await session.execute(
        update(Call).where(Call.hazard_id == hazard.id, IS_OPEN, *conditions)
        .values(status="cancelled", closed_at=now, next_attempt_at=None)
        .returning(Call.id, Call.contact_region_code)
    )).all()  # fmt: skip
    return [
        audit_service.Event(type="call.cancelled", actor="hazard", hazard_id=hazard.id, call_id=call_id,
                            region_code=code, data={"reason": reason})
        for call_id, code in sorted(closed)
    ]  # fmt: skip


async def to_office(session: AsyncSession, hazard: Hazard, *, step: str, now: datetime) -> list[audit_service.Event]:
    """Call the office above the report's region (its officer on duty, and for an urgent report the
    shift's leader; else its rank-1 contacts), nearest first, up to the county; a report on a county
    (or where no county stands above, as under 东莞) goes to the level above."""
    region = await region_service.get_region(session, hazard.region_code)
    ancestry = await region_service.get_ancestry(session, region)
    beyond = region.level in ("county", "prefecture", "province") or all(r.level != "county" for r in ancestry)
    found = await routing.recipients(
        session, {hazard.region_code}, above_county=beyond, with_leader=hazard.urgent, now=now, supervisors=False
    )
    people = found.get(hazard.region_code, [])
    if not people:
        return [event(hazard, "hazard.unreachable", "hazard", reason="nobody on record above the region")]
    hazard.office_code = people[0]["region_code"]
    return await make_calls(session, hazard, people, step=step, seconds=TO_RECEIVE_S[hazard.urgent], now=now)


async def department_people(session: AsyncSession, department_id: str, *, now: datetime) -> list[dict[str, Any]]:
    """Who answers for a department: its officer on shift where it keeps a roster, else (or in a gap
    in it) its active contacts of the lowest rank."""
    desks = await duty_service.desks_in_force(session, {department_id}, now, departments=True)
    desk = desks.get(department_id)
    if desk is not None:
        return routing.on_duty(desk, with_leader=False)
    rows = list(await session.scalars(
        select(Contact).where(Contact.department_id == department_id, Contact.active.is_(True))
        .order_by(Contact.rank, Contact.id)
    ))  # fmt: skip
    lowest = rows[0].rank if rows else None
    gap = {"duty_gap": True} if department_id in desks else {}
    return [
        {**{name: getattr(c, name) for name in routing.PERSON}, "via": "rank_1", **gap}
        for c in rows
        if c.rank == lowest
    ]
