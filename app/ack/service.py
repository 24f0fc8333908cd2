"""What the acknowledgement link reads and does, for its routes: the call behind a token, the
warning's regions as the page names them, the person's call in a newer warning, and 已叫醒 (a
supervisor has been to a silent village)."""

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.call import db as call_db
from app.call import service as call_service
from app.call import tokens
from app.errors import Conflict, Gone, NotFound
from app.models.call import Call
from app.models.warning import OPEN_STATUSES as OPEN_WARNING
from app.models.warning import Warning, WarningRegion

NOT_VALID = "This link is not valid; check that it was copied whole."
CLOSED = "This warning ended more than a week ago; its link is closed."


async def load_call(session: AsyncSession, token: str) -> Call:
    """The call behind a token (about a warning or a hazard report): 404 unknown."""
    call = (
        await call_service.get_call_by_token_hash(session, tokens.hash_token(token))
        if tokens.plausible(token)
        else None
    )
    if call is None:
        raise NotFound(NOT_VALID)
    return call


async def load(session: AsyncSession, token: str, now: datetime) -> tuple[Call, Warning]:
    """The call of a warning behind a token: 404 unknown, 410 a week after its warning closed."""
    call = await load_call(session, token)
    if call.warning_id is None:  # about a hazard report: its page is the report's (hazard.link)
        raise NotFound("This link is about a hazard report; open it without the rest of the address.")
    warning = await session.get(Warning, call.warning_id)
    assert warning is not None
    if call_service.closed_a_week(warning.closed_at, now):
        raise Gone(CLOSED)
    return call, warning


async def current_url(session: AsyncSession, public_url: str, call: Call, warning: Warning) -> str | None:
    """The link of the person's call in the warning that superseded this one, if any."""
    if not warning.superseded_by:
        return None
    newer = await session.scalar(
        select(Call.id).where(Call.warning_id == warning.superseded_by, Call.contact_phone == call.contact_phone)
    )
    if newer is None:
        return None
    return tokens.ack_url(public_url, tokens.derive_token(tokens.instance_secret(), newer))


async def region_names(session: AsyncSession, warning_id: str, codes: list[str]) -> dict[str, str]:
    """The names of the warning's regions among these codes."""
    rows = await session.execute(
        select(WarningRegion.region_code, WarningRegion.name)
        .where(WarningRegion.warning_id == warning_id, WarningRegion.region_code.in_(codes))
    )  # fmt: skip
    return dict(rows.tuples().all())


async def regions_about(session: AsyncSession, call: Call) -> list[Any]:
    """The regions an escalation call names, in code order: (code, name, state, reached_by)."""
    if call.kind != "escalation" or call.warning_id is None:
        return []
    rows = await session.execute(
        select(WarningRegion.region_code, WarningRegion.name, WarningRegion.state, WarningRegion.reached_by)
        .where(WarningRegion.warning_id == call.warning_id, WarningRegion.region_code.in_(call.about_region_codes))
        .order_by(WarningRegion.region_code)
    )
    return list(rows.tuples())


async def woken(session: AsyncSession, call: Call, warning: Warning, code: str, *, now: datetime) -> WarningRegion:
    """已叫醒: the supervisor called on an escalation has been to a region it names. The region is
    reached (confirmed in person) and the escalation call acknowledged, if it is still open."""
    if call.kind != "escalation" or code not in call.about_region_codes:
        raise NotFound("This link names no such region.")
    if warning.status not in OPEN_WARNING:
        raise Conflict(f"Warning {warning.id} is {warning.status}; nothing is escalated any more.")
    # Call, then region, then the chain head: the order every answering path locks in.
    await call_db.lock_calls(session, Call.id == call.id)
    confirming = ([code], {"method": "in_person", "note": "已叫醒"})
    if call.status in call_service.ANSWERABLE:
        await call_service.acknowledge(
            session, call, method="link", actor=call.contact_name, now=now, confirming=confirming
        )
    else:
        reached = await call_service.mark_regions_reached(
            session, warning.id, confirming[0], by="confirmed", actor=call.contact_name, call_id=call.id,
            now=now, details=confirming[1],
        )  # fmt: skip
        await audit_service.record_events(session, reached, chain=audit_service.warning_chain(warning.id), now=now)
    return await session.get_one(WarningRegion, (warning.id, code), populate_existing=True)
