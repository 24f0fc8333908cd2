"""Calls about a hazard report (kind `hazard`): stored as the warnings' calls are, on the same
ladder, links and answers, with `hazard_id` instead of `warning_id` and the step they ask for."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.call import metrics as call_metrics
from app.call import routing, tokens
from app.db import bulk_insert, new_id
from app.models.call import Call, CallToken
from app.models.call import priority as call_priority
from app.models.hazard import Hazard


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
