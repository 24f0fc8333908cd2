"""What a gateway tells us: delivery receipts, and replies from phones (an SMS, a key on a call)."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.call import service as call_service
from app.call.models import Call
from app.db import dialect_insert
from app.errors import NotFound
from app.notify import sender
from app.notify.models import Inbound, Message
from app.warning.models import OPEN_STATUSES as OPEN_WARNING
from app.warning.models import Warning

ACK_WORDS = {"1", "ok", "好", "确认"}
REPLY_WINDOW = timedelta(hours=24)


def is_acknowledgement(channel: str, text: str | None, digits: str | None) -> bool:
    """收到 anywhere in an SMS, or exactly 1, ok, 好, 确认 (any case, trimmed); or the voice key 1."""
    if channel == "voice":
        return (digits or "").strip() == "1"
    body = (text or "").strip()
    return "收到" in body or body.casefold() in ACK_WORDS


async def record_receipt(
    session: AsyncSession, message_id: str, status: str, error: str | None, *, now: datetime
) -> str:
    """A delivery receipt: the message becomes delivered or failed (once); a failure brings the
    call's next attempt forward. Returns the message's status."""
    message = await session.get(Message, message_id)
    if message is None:
        raise NotFound(f"No message has id {message_id!r}.")
    # Pending too: a message the gateway took although its answer timed out waits for a resend,
    # which its receipt makes unnecessary. Locks go message, call, chain head, as the sender's.
    changed = await session.execute(
        update(Message)
        .where(Message.id == message_id, Message.status.in_(("pending", "sending", "sent")))
        .values(status=status, receipt_at=now, error=error)
        .returning(Message.id)
    )
    if changed.scalar() is None:  # a replay, or a receipt for a message already settled
        await session.refresh(message)
        return message.status
    sender.MESSAGES.labels(message.channel, status).inc()
    if status == "failed":
        await call_service.lock_calls(session, Call.id == message.call_id)
    event = audit_service.Event(
        type=f"message.{status}",
        actor="gateway",
        warning_id=message.warning_id,
        call_id=message.call_id,
        data={"message_id": message_id, "channel": message.channel, "attempt": message.attempt, "error": error},
    )
    await audit_service.record_event(session, event, chain=audit_service.warning_chain(message.warning_id), now=now)
    if status == "failed" and message.attempt > 0:
        await call_service.bring_attempt_forward(session, message.call_id, reason="delivery failed", now=now)
    return status


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
    """A reply from a phone. An acknowledgement answers that phone's alert calls of active warnings
    from the last 24 hours that are open or unanswered (then late); anything else from a known
    phone is kept on the timeline as a reply; an unknown phone changes nothing. Replays of an
    `inbound_id` change nothing either."""
    acknowledging = is_acknowledgement(channel, text, digits)
    calls = list(
        await session.scalars(
            select(Call)
            .join(Warning, Warning.id == Call.warning_id)
            .where(Call.contact_phone == phone, Call.created_at >= now - REPLY_WINDOW, Warning.status.in_(OPEN_WARNING))
            .order_by(Call.id)
        )
    )
    latest = calls[-1] if calls else await session.scalar(
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
            type="reply.received", actor=latest.contact_name, warning_id=latest.warning_id, call_id=latest.id,
            region_code=latest.contact_region_code,
            data={"inbound_id": inbound_id, "channel": channel, "text": text, "digits": digits},
        )  # fmt: skip
        await audit_service.record_event(session, reply, chain=audit_service.warning_chain(latest.warning_id), now=now)
        return {"result": "reply", "acknowledged": []}
    method = "voice_key" if channel == "voice" else "sms_reply"
    answered = []
    # All the calls first, in id order, then each warning's chain in warning order: the order the
    # link's batched answers lock in, so the two never deadlock.
    await call_service.lock_calls(session, Call.id.in_([call.id for call in calls]))
    for call in sorted(calls, key=lambda call: (call.warning_id, call.id)):
        await session.refresh(call)  # as locked: a warning closed meanwhile leaves its calls alone
        if call.kind == "alert" and call.status in call_service.ANSWERABLE:
            await call_service.acknowledge(session, call, method=method, actor=call.contact_name, now=now)
            answered.append(call.id)
    return {"result": "acknowledged", "acknowledged": answered}


async def _first_time(session: AsyncSession, row: dict[str, Any]) -> bool:
    """Keep the inbound once; False if its id was seen before (a gateway's retry)."""
    stored = await session.execute(
        dialect_insert(session)(Inbound)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["inbound_id"])
        .returning(Inbound.inbound_id)
    )
    return stored.scalar() is not None
