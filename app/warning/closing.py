"""What closing a warning does to its calls: open calls and pending messages are cancelled, and
everyone already notified is told it has ended (lifted, withdrawn, expired or superseded), once per
person, in their language, by a channel some provider carries."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import i18n
from app.audit import service as audit_service
from app.bulk import bulk_insert
from app.channels import is_text, notice_channel
from app.contact.language import languages_of
from app.ids import new_id
from app.models.call import OPEN_STATUSES, Call
from app.models.call import priority as call_priority
from app.models.notify import IS_PENDING, Message
from app.models.warning import Warning, WarningRegion
from app.notify import templates
from app.notify.base import Plan

CLOSING_KIND = {"lifted": "lifting", "withdrawn": "withdrawal", "expired": "lifting", "superseded": "lifting"}


async def close_calls(
    session: AsyncSession,
    warning: Warning,
    *,
    status: str,
    reason: str,
    actor: str,
    now: datetime,
    plan: Plan,
    keep_phones: list[Callable[[Any], Select[Any]]] | None = None,
    notice_reason: str | None = None,
) -> None:
    """Cancel open calls and pending messages, then tell everyone already notified (once per
    person, by a channel the `plan` carries), but for the phones any of `keep_phones(phone)` finds
    a row for (those an update calls again)."""
    events = await _cancel_open(session, warning, status=status, reason=reason, actor=actor, now=now)
    notified = await _notified(session, warning, keep_phones or [])
    kind = CLOSING_KIND[status if status != "cancelled" else (warning.close_kind or "lifted")]
    messages = await _notices(session, warning, notified, kind=kind, reason=notice_reason, plan=plan, now=now)
    await bulk_insert(session, Message, messages)
    events += [
        audit_service.Event(
            type="message.failed", actor="sender", warning_id=warning.id, call_id=m["call_id"],
            data={"message_id": m["id"], "channel": m["channel"], "attempt": 0, "error": m["error"]},
        )
        for m in messages if m["status"] == "failed"
    ]  # fmt: skip
    await audit_service.record_events(session, events, chain=audit_service.warning_chain(warning.id), now=now)


async def _cancel_open(
    session: AsyncSession, warning: Warning, *, status: str, reason: str, actor: str, now: datetime
) -> list[audit_service.Event]:
    """The warning's open calls and pending messages cancelled; the calls' events."""
    closed = (
        await session.execute(
            update(Call)
            .where(Call.warning_id == warning.id, Call.status.in_(OPEN_STATUSES))
            .values(status="cancelled", closed_at=now, next_attempt_at=None)
            .returning(Call.id)
        )
    ).scalars().all()  # fmt: skip
    await session.execute(
        update(Message)
        .where(Message.warning_id == warning.id, IS_PENDING)
        .values(status="cancelled", error=f"warning {status}")
    )
    return [
        audit_service.Event(
            type="call.cancelled", actor=actor, warning_id=warning.id, call_id=call_id, data={"reason": reason}
        )
        for call_id in closed
    ]


async def _notified(
    session: AsyncSession, warning: Warning, keep_phones: list[Callable[[Any], Select[Any]]]
) -> list[Any]:
    """The calls of people who heard of the warning, by phone, but for the phones kept."""
    notifying = (
        select(Call.id, Call.contact_phone, Call.channels, Call.region_codes, Call.contact_id)
        # Notified, or an attempt already on its way (claimed by a sender, not yet recorded).
        .where(Call.warning_id == warning.id, or_(Call.notified_at.is_not(None), Call.attempts > 0))
        .order_by(Call.contact_phone, Call.kind, Call.id)
    )
    for keep in keep_phones:
        # NOT EXISTS, not NOT IN: an anti-join however many phones there are (NOT IN over a roster
        # too large to hash compares each call with every phone on PostgreSQL).
        notifying = notifying.where(~keep(Call.contact_phone).exists())
    return list((await session.execute(notifying)).tuples().all())


async def _notices(
    session: AsyncSession,
    warning: Warning,
    notified: list[Any],
    *,
    kind: str,
    reason: str | None,
    plan: Plan,
    now: datetime,
) -> list[dict[str, Any]]:
    """One closing notice per phone, as message rows: pending by a carried channel, else failed."""
    names = dict(
        (await session.execute(
            select(WarningRegion.region_code, WarningRegion.name).where(WarningRegion.warning_id == warning.id)
        )).tuples().all()
    )  # fmt: skip
    messages: list[dict[str, Any]] = []
    told: set[str] = set()
    priority = call_priority(warning.level, "alert", retry=True)
    languages = await languages_of(session, {row[4] for row in notified})
    for call_id, phone, channels, region_codes, contact_id in notified:
        if phone in told:
            continue
        told.add(phone)
        # By a channel some provider carries; a person reachable by none has it failed, on record.
        reachable = [channel for channel in channels if channel in plan.channels]
        channel = notice_channel(reachable or channels)
        # In the person's language by SMS; by voice, in one the voice services speak.
        lang = languages.get(contact_id, i18n.SOURCE)
        lang = lang if is_text(channel) or lang in i18n.SPOKEN else i18n.SOURCE
        area = templates.area_label([names[code] for code in region_codes if code in names], lang)
        text = templates.closing_text(
            lang=lang, signature=plan.signature if is_text(channel) else None, kind=kind, level=warning.level,
            hazard=warning.own_words(lang)["hazard"] or warning.hazard, mode=warning.mode, area=area, reason=reason,
        )  # fmt: skip
        messages.append({
            "id": new_id(), "call_id": call_id, "warning_id": warning.id, "kind": kind, "channel": channel,
            "to": phone, "attempt": 0, "text": text, "with_link": False,
            "status": "pending" if reachable else "failed", "priority": priority, "provider": None,
            "due_at": now, "created_at": now, "claimed_at": None, "sent_at": None,
            "error": None if reachable else f"no provider is configured for {channel}",
        })  # fmt: skip
    return messages
