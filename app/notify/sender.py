"""The sender: claims due messages from the outbox, hands them over, and records the outcome.

Three short transactions per batch, none holding a lock across network I/O: claim (pending →
sending, FOR UPDATE SKIP LOCKED so any number of processes share the work), hand over, record
(sending → sent, the call notified, one message.sent event each). A message left in `sending` by
a crash is claimed again after RECLAIM_AFTER and resent under the same id, which providers dedupe.
"""

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, select, update

from app.ack import tokens
from app.audit import service as audit_service
from app.call.models import Call
from app.config import get_settings
from app.db import session_scope
from app.notify.models import Message
from app.notify.providers import Outcome, Outgoing, Provider
from app.notify.templates import LINK
from app.warning.fanout import warning_chain
from app.warning.models import Warning

log = logging.getLogger(__name__)
BATCH = 1000
RECLAIM_AFTER = timedelta(seconds=60)


async def _claim(now: datetime, batch: int) -> list[Outgoing]:
    settings = get_settings()
    async with session_scope() as session:
        due = or_(
            and_(Message.status == "pending", Message.due_at <= now),
            and_(Message.status == "sending", Message.claimed_at < now - RECLAIM_AFTER),
        )
        rows = list(
            await session.scalars(
                select(Message)
                .where(due)
                .order_by(Message.due_at, Message.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        )
        if not rows:
            return []
        await session.execute(
            update(Message).where(Message.id.in_([m.id for m in rows])).values(status="sending", claimed_at=now)
        )
        levels = dict(
            (
                await session.execute(
                    select(Warning.id, Warning.level).where(Warning.id.in_({m.warning_id for m in rows}))
                )
            )
            .tuples()
            .all()
        )
        secret = await tokens.instance_secret(session)
    outgoing = []
    for message in rows:
        url = (
            tokens.ack_url(settings.public_url, tokens.derive_token(secret, message.call_id))
            if message.with_link
            else None
        )
        text = message.text.replace(LINK, url) if url else message.text
        outgoing.append(
            Outgoing(
                message_id=message.id,
                call_id=message.call_id,
                warning_id=message.warning_id,
                kind=message.kind,
                channel=message.channel,
                to=message.to,
                text=text,
                ack_url=url,
                level=levels[message.warning_id],
                attempt=message.attempt,
            )
        )
    return outgoing


def _chunks(values: list[str], size: int = 1000) -> list[list[str]]:
    return [values[start : start + size] for start in range(0, len(values), size)]


async def _record(outgoing: list[Outgoing], outcomes: list[Outcome], now: datetime) -> None:
    accepted = {o.message_id for o in outcomes if o.accepted}
    async with session_scope() as session:
        for chunk in _chunks(sorted(accepted)):
            await session.execute(
                update(Message)
                .where(Message.id.in_(chunk), Message.status == "sending")
                .values(status="sent", sent_at=now)
            )
        for outcome in outcomes:
            if not outcome.accepted:  # back to pending: tried again on a later round
                await session.execute(
                    update(Message)
                    .where(Message.id == outcome.message_id)
                    .values(status="pending", error=outcome.error)
                )
        calls_by_attempt: dict[int, set[str]] = defaultdict(set)
        events: dict[str, list[audit_service.Event]] = defaultdict(list)
        for message in outgoing:
            if message.message_id not in accepted:
                continue
            if message.attempt > 0:
                calls_by_attempt[message.attempt].add(message.call_id)
            events[message.warning_id].append(
                audit_service.Event(
                    type="message.sent",
                    actor="sender",
                    warning_id=message.warning_id,
                    call_id=message.call_id,
                    data={
                        "message_id": message.message_id,
                        "kind": message.kind,
                        "channel": message.channel,
                        "to": message.to,
                        "attempt": message.attempt,
                    },
                )
            )
        for attempt, call_ids in calls_by_attempt.items():
            for chunk in _chunks(sorted(call_ids)):
                await session.execute(
                    update(Call)
                    .where(Call.id.in_(chunk))
                    .values(
                        status=case((Call.status == "pending", "notified"), else_=Call.status),
                        notified_at=func.coalesce(Call.notified_at, now),
                        attempts=case((Call.attempts < attempt, attempt), else_=Call.attempts),
                    )
                )
        for warning_id, warning_events in events.items():
            await audit_service.record_events(session, warning_events, chain=warning_chain(warning_id), now=now)


async def send_due(provider: Provider, *, now: datetime, batch: int = BATCH) -> int:
    """Hand every due message to the provider, batch by batch; returns how many were accepted."""
    sent = 0
    while True:
        outgoing = await _claim(now, batch)
        if not outgoing:
            return sent
        outcomes = await provider.send(outgoing)
        await _record(outgoing, outcomes, now)
        sent += sum(1 for o in outcomes if o.accepted)
        if len(outgoing) < batch:
            return sent
