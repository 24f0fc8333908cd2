"""What the acknowledgement link reads and does, for its routes: the call behind a token, what its
page shows (the warning in the person's language, the regions, the person's call in a newer
warning, the loudspeakers), feedback, and 已叫醒 (a supervisor has been to a silent village)."""

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import i18n
from app.audit import service as audit_service
from app.broadcast import service as broadcast_service
from app.call import db as call_db
from app.call import service as call_service
from app.call import tokens
from app.call.schemas import FeedbackIn
from app.contact.language import languages_of
from app.db import savepoint
from app.errors import Conflict, Gone, NotFound
from app.models.call import Call, Feedback
from app.models.warning import OPEN_STATUSES as OPEN_WARNING
from app.models.warning import Warning, WarningRegion
from app.pages import CLOSED_NOTES, COLOURS, LEVEL_HEADINGS, beijing

NOT_VALID = "This link is not valid; check that it was copied whole."
CLOSED = "This warning ended more than a week ago; its link is closed."


async def load_call(session: AsyncSession, token: str) -> Call:
    """The call behind a token (about a warning or a hazard report): 404 unknown."""
    call = await call_service.call_by_token(session, token)
    if call is None:
        raise NotFound(NOT_VALID)
    return call


async def load(session: AsyncSession, token: str, now: datetime) -> tuple[Call, Warning]:
    """The call of a warning behind a token: 404 unknown, 410 a week after its warning closed."""
    call = await load_call(session, token)
    if call.warning_id is None:  # about a hazard report: its page is the report's (hazard.link_router)
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


async def page_context(
    session: AsyncSession, *, public_url: str, token: str, call: Call, warning: Warning, now: datetime
) -> dict[str, Any]:
    """What the link's page shows of the call and its warning, in the person's language."""
    names = await region_names(session, warning.id, call.region_codes)
    lang = (await languages_of(session, [call.contact_id])).get(call.contact_id, i18n.SOURCE)
    return {
        **_warning_words(warning, lang),
        **_call_state(call, warning, now),
        "contact_name": call.contact_name,
        "area": "、".join(names.values()) or "—",
        "current_url": await current_url(session, public_url, call, warning),
        "ack_action": f"/ack/{token}",
        "feedback_action": f"/ack/{token}/feedback",
        "report_action": f"/ack/{token}/report" if call.contact_id else "",
        "unreached": await _unreached(session, token, call),
        "broadcasts": await _loudspeakers(session, token, call, warning, names),
    }


def _warning_words(warning: Warning, lang: str) -> dict[str, Any]:
    """The warning as the page says it: its level, its own words in the person's language, its end."""
    closed = warning.status not in OPEN_WARNING
    return {
        "lang": lang,
        "own": warning.own_words(lang),
        "title": warning.title,
        "level": warning.level,
        "level_heading": LEVEL_HEADINGS.get(warning.level, warning.level),
        "colour": COLOURS.get(warning.level, "#444"),
        "hazard": warning.hazard,
        "mode": warning.mode,
        "issued_at": beijing(warning.created_at),
        "instruction": warning.instruction,
        "description": warning.description,
        "closed_note": CLOSED_NOTES.get(warning.close_kind or "", "") if closed else "",
    }


def _call_state(call: Call, warning: Warning, now: datetime) -> dict[str, Any]:
    """Where the person's call stands, and what the page still lets them do."""
    closed = warning.status not in OPEN_WARNING
    return {
        "acknowledged": call.status == "acknowledged",
        "acknowledged_at": beijing(call.acknowledged_at),
        "late": call.late,
        "can_ack": call.status in call_service.ANSWERABLE and not closed,
        "deadline": beijing(call.deadline_at),
        "overdue": now > call.deadline_at,
        "feedback_count": call.feedback_count,
        # Open until the final report, and for a week after the warning ends (for the 终报).
        "can_feedback": call.final_feedback_at is None and not call_service.closed_a_week(warning.closed_at, now),
        "can_wake": not closed,
    }


async def _unreached(session: AsyncSession, token: str, call: Call) -> list[dict[str, Any]]:
    """The regions an escalation call names as nobody answered for, each with its 已叫醒 button."""
    return [
        {"name": name, "reached": state == "reached", "woken": by == "confirmed",
         "action": f"/ack/{token}/regions/{code}"}
        for code, name, state, by in await regions_about(session, call)
    ]  # fmt: skip


async def _loudspeakers(
    session: AsyncSession, token: str, call: Call, warning: Warning, names: dict[str, str]
) -> list[dict[str, Any]]:
    """The loudspeakers of an alert's regions, each with its 已广播 button."""
    if call.kind != "alert":
        return []
    return [
        {"name": names.get(b.region_code, b.region_code),
         "status": broadcast_service.BOARD_STATES.get(b.status, ("", b.status))[1],
         "confirmed": b.confirmed_at is not None, "action": f"/ack/{token}/broadcasts/{b.id}"}
        for b in await broadcast_service.of_regions(session, warning.id, call.region_codes)
    ]  # fmt: skip


async def add_feedback(
    session: AsyncSession, call: Call, warning: Warning, data: FeedbackIn, *, now: datetime
) -> Feedback:
    """反馈 through the link, as the person called. A refusal (the final report already sent, the
    record sealed) leaves nothing of it behind: it runs in a savepoint, and what was read is read
    again afterwards."""
    async with savepoint(session):
        return await call_service.add_feedback(
            session, call, warning, stage=data.stage, actions=data.actions, evacuated=data.evacuated,
            note=data.note, actor=call.contact_name, now=now,
        )  # fmt: skip
