"""Replies from phones (an SMS, a key on a call): 收到 answers the phone's calls, an SMS starting
险情 is a hazard report, anything else from a known phone goes on the timeline as a reply."""

import unicodedata
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import i18n
from app.audit import service as audit_service
from app.call import db as call_db
from app.call import service as call_service
from app.channels import CHANNELS, is_text
from app.contact.language import language_of_phone
from app.db import dialect_insert
from app.hazard import sms as hazard_sms
from app.i18n import N_
from app.models.call import Call
from app.models.contact import Contact
from app.models.notify import Inbound
from app.models.warning import OPEN_STATUSES as OPEN_WARNING
from app.models.warning import Warning

# Whole replies that say "received" (after trimming, without punctuation or spaces, any case), and
# the words of each language's catalog for them.
ACK_WORDS = N_("收到|已收到|收到了|好的|好|确认|明白|1|ok")
REPLY_WINDOW = timedelta(hours=24)


def _bare(text: str) -> str:
    """The reply without spaces, punctuation or symbols, case folded: "收到！" -> "收到", " OK." -> "ok"."""
    text = unicodedata.normalize("NFKC", text)  # full-width ＯＫ and １ from Chinese input methods
    return "".join(ch for ch in text if unicodedata.category(ch)[0] not in "PZSC").casefold()


def is_acknowledgement(
    channel: str, text: str | None, digits: str | None, languages: Iterable[str] = (i18n.SOURCE,)
) -> bool:
    """The voice key 1, or an SMS whose whole text is a word for "received" in Chinese or in one of
    the person's languages (没收到 is not)."""
    if CHANNELS[channel].form == "speech":
        return (digits or "").strip() == "1"
    words = {_bare(word) for lang in languages for word in i18n.catalog(lang).words(ACK_WORDS)}
    return _bare(text or "") in words


async def take_inbound(
    session: AsyncSession,
    *,
    inbound_id: str,
    phone: str,
    channel: str,
    text: str | None,
    digits: str | None,
    now: datetime,
) -> dict[str, Any]:
    """A reply from a phone. An acknowledgement answers that phone's calls of active warnings from
    the last 24 hours that are open, and its alert calls that went unanswered (then late); anything else from a known
    phone is kept on the timeline as a reply; an unknown phone changes nothing. Replays of an
    `inbound_id` change nothing either."""
    languages = await language_of_phone(session, phone)
    if is_text(channel) and text and hazard_sms.sms_report(text, languages) is not None:
        return await _report(
            session, inbound_id=inbound_id, phone=phone, channel=channel, text=text, languages=languages, now=now
        )
    acknowledging = is_acknowledgement(channel, text, digits, languages | {i18n.SOURCE})
    calls = list(
        await session.scalars(
            select(Call)
            .outerjoin(Warning, Warning.id == Call.warning_id)
            .where(
                Call.contact_phone == phone,
                Call.created_at >= now - REPLY_WINDOW,
                # Calls of warnings in force, and calls about hazard reports (closed with their report).
                or_(Warning.status.in_(OPEN_WARNING), Call.hazard_id.is_not(None)),
            )
            .order_by(Call.id)
        )
    )
    # A reply that answers nothing goes on the timeline of what the phone was last called about:
    # a warning in force first (its board shows replies), else a report.
    about_warnings = [call for call in calls if call.warning_id is not None]
    latest = (about_warnings or calls)[-1] if calls else await session.scalar(
        select(Call).where(Call.contact_phone == phone).order_by(Call.id.desc()).limit(1)
    )  # fmt: skip
    if latest is None:
        return {"result": "unknown_phone", "acknowledged": []}
    result = "acknowledged" if acknowledging else "reply"
    row = {"inbound_id": inbound_id, "phone": phone, "channel": channel, "text": text, "digits": digits,
           "result": result, "received_at": now}  # fmt: skip
    if not await _first_time(session, row):
        return {"result": "duplicate", "acknowledged": []}
    if not acknowledging:
        reply = audit_service.Event(
            type="reply.received", actor=latest.contact_name, warning_id=latest.warning_id, hazard_id=latest.hazard_id,
            call_id=latest.id,
            region_code=latest.contact_region_code,
            data={"inbound_id": inbound_id, "channel": channel, "text": text, "digits": digits},
        )  # fmt: skip
        await audit_service.record_warning_events(session, [reply], now=now)
        return {"result": "reply", "acknowledged": []}
    method = CHANNELS[channel].ack_method
    answered = []
    # All the calls first, in id order, then each warning's chain in warning order: the order the
    # link's batched answers lock in, so the two never deadlock.
    await call_db.lock_reports(session, [call.hazard_id for call in calls])
    await call_db.lock_calls(session, Call.id.in_([call.id for call in calls]))
    for call in sorted(calls, key=lambda call: (call.warning_id or "", call.id)):
        await session.refresh(call)  # as locked: a warning closed meanwhile leaves its calls alone
        if call_service.answered_by_reply(call):
            await call_service.acknowledge(session, call, method=method, actor=call.contact_name, now=now)
            answered.append(call.id)
    return {"result": "acknowledged", "acknowledged": answered}


async def _report(
    session: AsyncSession,
    *,
    inbound_id: str,
    phone: str,
    channel: str,
    text: str,
    languages: set[str],
    now: datetime,
) -> dict[str, Any]:
    """An SMS starting 险情 or 报告 from a phone on the roster: a hazard report of that person's region
    (the person's latest roster entry, when the phone answers for several)."""
    contact = await session.scalar(
        select(Contact).where(Contact.phone == phone, Contact.active.is_(True)).order_by(Contact.updated_at.desc())
    )
    if contact is None:
        return {"result": "unknown_phone", "acknowledged": []}
    row = {"inbound_id": inbound_id, "phone": phone, "channel": channel, "text": text, "digits": None,
           "result": "hazard_report", "received_at": now}  # fmt: skip
    if not await _first_time(session, row):
        return {"result": "duplicate", "acknowledged": []}
    hazard = await hazard_sms.report_by_sms(session, contact, text, languages=languages, now=now)
    return {"result": "hazard_report", "acknowledged": [], "hazard_id": hazard.id if hazard else None}


async def _first_time(session: AsyncSession, row: dict[str, Any]) -> bool:
    """Keep the inbound once; False if its id was seen before (a gateway's retry)."""
    stored = await session.execute(
        dialect_insert(session)(Inbound)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["inbound_id"])
        .returning(Inbound.inbound_id)
    )
    return stored.scalar() is not None
