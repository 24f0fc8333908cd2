"""The sender: turns due attempts into messages, hands them over, and records the outcome.

The outbox is durable before anything is sent: a call with `next_attempt_at` in the past is an
attempt waiting to go out, and closing notices are messages stored as `pending`. Each round is
three short transactions, none holding a lock across network I/O:

1. claim (app.notify.claim): due calls are locked (FOR UPDATE SKIP LOCKED, so any number of
   processes share the work), the most urgent first, their attempt's messages written as
   `sending`, and the call moved to its next attempt; pending notices and messages left in
   `sending` by a crash are claimed the same way;
2. hand over (app.notify.dispatch): each message to a provider of its channel, in batches, failing
   over to the channel's next provider while one is failing (the link is derived from the call id
   at claim and never stored);
3. record: `sent` with the provider that took it, the call `notified`, one `message.sent` event
   per call and attempt (each warning's chain locked once per round); a message a gateway
   rejected is a `message.failed`, handled as a failed receipt; what no provider took waits, with
   back-off, under the same id.

A crash after 1 leaves messages in `sending`; after JIAOYING_SEND_RECLAIM_S they are handed over
again under the same ids, which providers (and the console) deduplicate.
"""

import asyncio
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.call import db as call_db
from app.call import service as call_service
from app.config import Settings
from app.db import among, chunks, core_rows, get_database, retryable, session_scope, utc_now
from app.models.call import Call
from app.models.notify import Message
from app.notify import claim as claiming
from app.notify import gateway
from app.notify.base import Outcome, Outgoing, Plan, Provider, kinds_carried, templated
from app.notify.dispatch import Dispatcher, backoff_s
from app.notify.metrics import MESSAGES

BATCH = 1000
LANES = 2


def plan_of(dispatcher: Dispatcher, settings: Settings) -> Plan:
    """What the claim needs to know of this process's providers and settings."""
    return Plan(
        channels=dispatcher.channels,
        callee_limits={channel: dispatcher.callee_limits(channel) for channel in dispatcher.channels},
        kinds=kinds_carried(dispatcher.chains),
        templated=templated(dispatcher.chains),
        signature=settings.sms_signature,
        public_url=settings.public_url,
    )


async def _record(outgoing: list[Outgoing], outcomes: list[Outcome], now: datetime, claimed_at: datetime) -> None:
    """The round's outcomes, in one transaction whose locks go messages, calls, chain heads (each
    in order), as a batch of receipts and an answer take them, so none of them can deadlock."""
    taken: dict[str, list[str]] = defaultdict(list)  # provider -> ids it accepted
    for outcome in outcomes:
        if outcome.accepted:
            taken[outcome.provider or "unknown"].append(outcome.message_id)
    # Rejected: never deliverable. A failure, as a failed receipt would record it.
    rejected = [gateway.Receipt(o.message_id, "failed", o.error or "rejected by the gateway", o.provider)
                for o in outcomes if o.status == "rejected"]  # fmt: skip
    # Only messages still held by this round's claim are recorded: if a slow round was overtaken by
    # a reclaim, the later round records them (once).
    # "Not past sending" rather than "= sending": the equality would lead the planner to the status
    # index and every message in flight, instead of the primary key.
    still_ours = (Message.claimed_at == claimed_at, Message.status.not_in(("sent", "delivered", "failed", "cancelled")))
    accepted: dict[str, str] = {}
    async with session_scope() as session:
        for provider, message_ids in taken.items():
            for chunk in chunks(sorted(message_ids)):
                # A gateway's receipt may have come in before this: the message stays delivered or failed.
                updated = await core_rows(
                    session,
                    update(Message)
                    .where(among(Message.id, chunk), Message.claimed_at == claimed_at,
                           Message.status.not_in(("pending", "sent", "cancelled")))
                    .values(status=case((Message.status == "sending", "sent"), else_=Message.status),
                            sent_at=func.coalesce(Message.sent_at, now), provider=provider)
                    .returning(Message.id),
                )  # fmt: skip
                accepted.update((message_id, provider) for message_id in updated.scalars())
        failures = await gateway.settle_messages(session, rejected, now=now)
        await _requeue(session, [o for o in outcomes if o.status == "retry"], still_ours, now)
        sent = [m for m in outgoing if m.message_id in accepted]
        notified = sorted({m.call_id for m in sent if m.attempt > 0 and m.call_id is not None})
        failed = failures.failed_calls(rejected)
        if failed:  # calls then change one by one too: all of them locked first, in id order
            await call_db.lock_calls(session, Call.id.in_(sorted({*notified, *failed})))
        for chunk in chunks(notified):
            await core_rows(
                session,
                update(Call)
                .where(among(Call.id, chunk))
                .values(
                    status=case((Call.status == "pending", "notified"), else_=Call.status),
                    notified_at=func.coalesce(Call.notified_at, now),
                ),
            )
        retried = await call_service.bring_attempts_forward(session, failed, reason="delivery failed", now=now)
        events = _sent_events(sent, accepted) + failures.events(rejected) + retried
        await audit_service.record_warning_events(session, events, now=now)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for message in sent:
        counts[(accepted[message.message_id], message.channel)] += 1
    for (provider, channel), count in counts.items():
        MESSAGES.labels(provider, channel, "sent").inc(count)


def _sent_events(sent: list[Outgoing], providers: dict[str, str]) -> list[audit_service.Event]:
    """One `message.sent` per call and attempt, naming each message's channel and provider."""
    attempts: dict[tuple[str | None, str | None, str | None, str | None, int], list[Outgoing]] = defaultdict(list)
    for m in sent:
        attempts[(m.warning_id, m.hazard_id, m.call_id, m.contact_id, m.attempt)].append(m)
    return [
        audit_service.Event(
            type="message.sent", actor="sender", warning_id=warning_id, hazard_id=hazard_id, call_id=call_id,
            region_code=messages[0].region_code,
            data={"attempt": attempt, "kind": messages[0].kind, "to": messages[0].to,
                  **({"contact_id": contact_id} if contact_id else {}),
                  "messages": [{"id": m.message_id, "channel": m.channel, "provider": providers[m.message_id]}
                               for m in messages]},
        )
        for (warning_id, hazard_id, call_id, contact_id, attempt), messages in attempts.items()
    ]  # fmt: skip


async def _requeue(session: AsyncSession, refused: list[Outcome], still_ours: tuple[Any, ...], now: datetime) -> None:
    """Messages no provider took go back to pending, due again after an exponential, jittered
    delay (1, 2, 4 ... 60 s by how often they were tried), under the same id."""
    if not refused:
        return
    errors = {outcome.message_id: outcome.error for outcome in refused}
    tries: dict[str, int] = {}
    for chunk in chunks(sorted(errors)):
        tries.update(
            (await session.execute(select(Message.id, Message.tries).where(among(Message.id, chunk)))).tuples().all()
        )
    by_tries: dict[tuple[int, str | None], list[str]] = defaultdict(list)
    for message_id, tried in tries.items():
        by_tries[(tried + 1, errors[message_id])].append(message_id)
    for (tried, error), message_ids in by_tries.items():
        due = now + timedelta(seconds=backoff_s(tried))
        for chunk in chunks(message_ids):
            await session.execute(
                update(Message)
                .where(among(Message.id, chunk), *still_ours)
                .values(status="pending", error=error, tries=tried, due_at=due)
            )


async def _round(dispatcher: Dispatcher, settings: Settings, now: datetime, batch: int) -> tuple[int, bool]:
    """One claim, hand-over and record; returns (accepted, whether to go on)."""
    round_now = max(now, utc_now())  # a long run of rounds keeps real times
    reclaim_after = timedelta(seconds=settings.send_reclaim_s)
    outgoing = await claiming.claim(round_now, batch, plan_of(dispatcher, settings), reclaim_after=reclaim_after)
    if not outgoing:
        return 0, False
    outcomes = await dispatcher.hand_over(outgoing)
    try:
        await _record(outgoing, outcomes, max(round_now, utc_now()), claimed_at=round_now)
    except DBAPIError as exc:
        if not retryable(exc):
            raise
        # A deadlock victim: the provider has the messages, so record them again at once (the
        # updates only touch messages this round still holds).
        await _record(outgoing, outcomes, max(round_now, utc_now()), claimed_at=round_now)
    accepted = sum(1 for o in outcomes if o.accepted)
    # Providers refusing everything: the rest waits for a later tick.
    return accepted, accepted > 0


async def _rounds(dispatcher: Dispatcher, settings: Settings, now: datetime, batch: int) -> int:
    sent, going = 0, True
    while going:
        accepted, going = await _round(dispatcher, settings, now, batch)
        sent += accepted
    return sent


async def send_due(dispatcher: Dispatcher | Provider, *, settings: Settings, now: datetime, batch: int = BATCH) -> int:
    """Hand every due attempt and notice to the providers, batch by batch; returns how many were accepted.

    One round first: a tick with nothing due ends after one claim. Then several lanes run rounds
    side by side (their claims never overlap: SKIP LOCKED on PostgreSQL, one writer at a time on
    SQLite), so one lane's hand-over to a gateway overlaps another's work on the database. With the
    console, which writes its messages to the database itself, SQLite runs one lane: a second would
    only queue for the write lock (a Xinjiang warning through Kannel on SQLite: 664 messages/s in
    one lane, 1,000 in two).
    """
    if not isinstance(dispatcher, Dispatcher):  # one provider for every channel it carries
        dispatcher = Dispatcher.serving(dispatcher)
    batch = dispatcher.batch_size(batch)
    if batch == 0:  # every channel's gateways are backing off; deadlines run on meanwhile
        return 0
    sent, going = await _round(dispatcher, settings, now, batch)
    if not going:
        return sent
    # On SQLite (one writer) a second lane only helps while the first waits on a gateway: not with
    # a provider that itself writes to the database (the console).
    lanes = 1 if get_database().one_writer and dispatcher.writes_database else LANES
    results = await asyncio.gather(
        *(_rounds(dispatcher, settings, now, batch) for _ in range(lanes)), return_exceptions=True
    )
    failures = [result for result in results if isinstance(result, BaseException)]
    if failures:  # every lane has finished; the heartbeat logs this and tries again next tick
        raise failures[0]
    return sent + sum(result for result in results if isinstance(result, int))
