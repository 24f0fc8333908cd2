"""The sender: turns due attempts into messages, hands them over, and records the outcome.

The outbox is durable before anything is sent: a call with `next_attempt_at` in the past is an
attempt waiting to go out, and closing notices are messages stored as `pending`. Each round is
three short transactions, none holding a lock across network I/O:

1. claim: due calls are locked (FOR UPDATE SKIP LOCKED, so any number of processes share the
   work), their attempt's messages written as `sending`, and the call moved to its next attempt;
   pending notices and messages left in `sending` by a crash are claimed the same way;
2. hand over to the provider (the link is derived from the call id here and never stored);
3. record: `sent`, the call `notified`, one `message.sent` event per call and attempt.

A crash after 1 leaves messages in `sending`; after JIAOYING_SEND_RECLAIM_S they are handed over
again under the same ids, which providers (and the console) deduplicate.
"""

import asyncio
import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter
from sqlalchemy import and_, case, func, or_, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.ack import tokens
from app.audit import service as audit_service
from app.call.models import OPEN_STATUSES, Call
from app.config import get_settings
from app.db import among, bulk_insert, chunks, core_rows, get_database, new_ids, retryable, session_scope, utc_now
from app.notify import templates, webhook
from app.notify.models import IS_PENDING, IS_SENDING, Message
from app.notify.providers import Outcome, Outgoing, Provider
from app.warning.fanout import attempt_channels, attempt_due_at, current_attempt
from app.warning.models import Warning, WarningRegion

log = logging.getLogger(__name__)
MESSAGES = Counter(
    "jiaoying_messages_total", "Messages handed over and their receipts, by channel and state.", ["channel", "status"]
)
BATCH = 1000
LANES = 2


class _Stored:
    """A message just written by this round, read back without a query."""

    def __init__(self, **columns: Any) -> None:
        self.__dict__.update(columns)


def _attempt_texts(warning: Warning, call: Any, names: dict[str, str], link_length: int) -> dict[str, str]:
    """The text of each channel for a call's attempt (SMS with the link placeholder, voice without)."""
    signature = get_settings().sms_signature
    level, hazard, mode = warning.level, warning.hazard, warning.mode
    if call.kind == "escalation":
        unreached = [names.get(code, code) for code in call.about_region_codes]
        return {
            "sms": templates.escalation_sms(signature=signature, level=level, hazard=hazard, mode=mode,
                                            unreached=unreached, link_length=link_length),
            "voice": templates.escalation_voice(level=level, hazard=hazard, mode=mode, unreached=unreached),
        }  # fmt: skip
    area = templates.area_label([names[code] for code in call.region_codes if code in names])
    return {
        "sms": templates.alert_sms(signature=signature, level=level, hazard=hazard, mode=mode, area=area,
                                   instruction=warning.instruction, link_length=link_length),
        "voice": templates.alert_voice(level=level, hazard=hazard, mode=mode, area=area,
                                       instruction=warning.instruction),
    }  # fmt: skip


_MOVE_ON = text(
    "UPDATE calls SET attempts = moved.attempts, next_attempt_at = moved.next_at"
    " FROM unnest(CAST(:ids AS varchar[]), CAST(:attempts AS integer[]), CAST(:next_ats AS timestamptz[]))"
    " AS moved(id, attempts, next_at) WHERE calls.id = moved.id"
)


async def _claim_attempts(session: AsyncSession, now: datetime, batch: int) -> list[dict[str, Any]]:
    """Lock due calls, store their attempt's messages as `sending`, and schedule the next attempt."""
    # Every path that closes a call clears its next attempt, so the time alone finds the due ones:
    # a plain range scan of one index, which a condition on the status would turn into a bitmap
    # scan of every open call. The status is still checked, and a stray closed call repaired.
    rows = (
        await core_rows(
            session,
            select(Call.id, Call.warning_id, Call.kind, Call.contact_phone, Call.channels, Call.region_codes,
                   Call.about_region_codes, Call.attempts, Call.created_at, Call.status)
            .where(Call.next_attempt_at <= now)
            .order_by(Call.next_attempt_at)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
    ).all()  # fmt: skip
    due = [row for row in rows if row.status in OPEN_STATUSES]
    stray = [row.id for row in rows if row.status not in OPEN_STATUSES]
    for chunk in chunks(stray):
        await session.execute(update(Call).where(among(Call.id, chunk)).values(next_attempt_at=None))
    if not due:
        return []
    warning_ids = {call.warning_id for call in due}
    warnings = {w.id: w for w in await session.scalars(select(Warning).where(Warning.id.in_(warning_ids)))}
    codes = {code for call in due for code in (*call.region_codes, *call.about_region_codes)}
    names: dict[str, str] = {}
    for chunk in chunks(sorted(codes)):
        named = await core_rows(
            session,
            select(WarningRegion.region_code, WarningRegion.name).where(
                WarningRegion.warning_id.in_(warning_ids), among(WarningRegion.region_code, chunk)
            ),
        )
        names.update(named.tuples().all())
    link_length = len(tokens.ack_url(get_settings().public_url, "x" * tokens.TOKEN_LENGTH))
    messages: list[dict[str, Any]] = []
    schedule: dict[tuple[int, datetime | None], list[str]] = defaultdict(list)
    # People of one village get the same words: each text is made once a round.
    texts_of: dict[tuple[Any, ...], dict[str, str]] = {}
    for call in due:
        warning = warnings[call.warning_id]
        attempt = current_attempt(warning.policy, call.created_at, now, call.attempts)
        wording = (call.warning_id, call.kind, tuple(call.region_codes), tuple(call.about_region_codes))
        if (texts := texts_of.get(wording)) is None:
            texts = texts_of[wording] = _attempt_texts(warning, call, names, link_length)
        for channel in attempt_channels(warning.policy, attempt, call.channels):
            messages.append({
                "id": None, "call_id": call.id, "warning_id": call.warning_id, "kind": call.kind,
                "channel": channel, "to": call.contact_phone, "attempt": attempt, "text": texts[channel],
                "with_link": channel == "sms", "status": "sending", "due_at": now, "created_at": now,
                "claimed_at": now, "sent_at": None, "error": None,
            })  # fmt: skip
        schedule[(attempt, attempt_due_at(warning.policy, call.created_at, attempt + 1))].append(call.id)
    for message, message_id in zip(messages, new_ids(len(messages)), strict=True):
        message["id"] = message_id
    await bulk_insert(session, Message, messages)
    if get_database().is_sqlite:
        # Calls of one fan-out share their clock, so a batch moves on in a few statements.
        for (attempt, next_at), call_ids in schedule.items():
            for chunk in chunks(call_ids):
                await core_rows(
                    session,
                    update(Call).where(Call.id.in_(chunk)).values(attempts=attempt, next_attempt_at=next_at),
                )
        return messages
    # One statement on PostgreSQL: the tallies' triggers then lock their rows in one order (several
    # statements would take them statement by statement, and two lanes could deadlock).
    moves = [(call_id, attempt, next_at) for (attempt, next_at), call_ids in schedule.items() for call_id in call_ids]
    ids, attempts, next_ats = (list(column) for column in zip(*moves, strict=True))
    await core_rows(session, _MOVE_ON, {"ids": ids, "attempts": attempts, "next_ats": next_ats})
    return messages


async def _drop_closed(session: AsyncSession, message_ids: list[str]) -> list[str]:
    """Of messages waiting again (refused, or left in `sending` by a crash), cancel the attempts whose
    call has since been answered or cancelled; returns the rest. Notices (attempt 0) always go, and
    so do attempts of calls gone unanswered meanwhile: the attempt was due, and a late answer counts."""
    closed: list[str] = []
    for chunk in chunks(message_ids):
        rows = await session.execute(
            select(Message.id)
            .join(Call, Call.id == Message.call_id)
            .where(among(Message.id, chunk), Message.attempt > 0, Call.status.in_(("acknowledged", "cancelled")))
        )
        closed.extend(rows.scalars())
    for chunk in chunks(closed):
        await session.execute(
            update(Message)
            .where(among(Message.id, chunk))
            .values(status="cancelled", error="call closed before sending")
        )
    dropped = set(closed)
    return [message_id for message_id in message_ids if message_id not in dropped]


_stuck_checked_at = datetime.min.replace(tzinfo=UTC)


def _stuck_check_due(now: datetime, reclaim_after: timedelta) -> bool:
    """Whether to look for messages stuck in `sending` now: a few times per reclaim window, not
    every tick. Stuck messages only follow a crash, and after a burst of sends the index holds many
    dead `sending` entries until autovacuum passes, which that lookup would walk on every tick."""
    global _stuck_checked_at
    if timedelta(0) <= now - _stuck_checked_at < reclaim_after / 4:
        return False
    _stuck_checked_at = now
    return True


async def _claim(now: datetime, batch: int) -> list[Outgoing]:
    reclaim_after = timedelta(seconds=get_settings().send_reclaim_s)
    async with session_scope() as session:
        claimed = await _claim_attempts(session, now, batch)
        # Notices (lifting, withdrawal) are stored pending; anything stuck in `sending` is retried.
        waiting = and_(IS_PENDING, Message.due_at <= now)
        if _stuck_check_due(now, reclaim_after):
            waiting = or_(waiting, and_(IS_SENDING, Message.claimed_at < now - reclaim_after))
        query = select(Message.id).where(waiting).order_by(Message.due_at).limit(batch)
        others = list((await session.execute(query.with_for_update(skip_locked=True))).scalars())
        others = await _drop_closed(session, others)
        for chunk in chunks(others):
            await session.execute(
                update(Message).where(among(Message.id, chunk)).values(status="sending", claimed_at=now)
            )
        if not claimed and not others:
            return []
        rows: list[Any] = [_Stored(**message) for message in claimed]
        for chunk in chunks(others):
            rows.extend(await session.scalars(select(Message).where(among(Message.id, chunk))))
        warning_ids = {m.warning_id for m in rows}
        level_query = select(Warning.id, Warning.level).where(Warning.id.in_(warning_ids))
        levels: dict[str, str] = dict((await session.execute(level_query)).tuples().all())  # fmt: skip
        secret = tokens.instance_secret()
    public_url = get_settings().public_url
    outgoing = []
    for message in rows:
        url = tokens.ack_url(public_url, tokens.derive_token(secret, message.call_id)) if message.with_link else None
        text = message.text.replace(templates.LINK, url) if url else message.text
        outgoing.append(Outgoing(message_id=message.id, call_id=message.call_id, warning_id=message.warning_id,
                                 kind=message.kind, channel=message.channel, to=message.to, text=text, ack_url=url,
                                 level=levels[message.warning_id], attempt=message.attempt))  # fmt: skip
    return outgoing


async def _record(outgoing: list[Outgoing], outcomes: list[Outcome], now: datetime, claimed_at: datetime) -> None:
    handed = {o.message_id for o in outcomes if o.accepted}
    # Only messages still held by this round's claim are recorded: if a slow round was overtaken by
    # a reclaim, the later round records them (once).
    # "Not past sending" rather than "= sending": the equality would lead the planner to the status
    # index and every message in flight, instead of the primary key.
    still_ours = (Message.claimed_at == claimed_at, Message.status.not_in(("sent", "delivered", "failed", "cancelled")))
    accepted: set[str] = set()
    async with session_scope() as session:
        for chunk in chunks(sorted(handed)):
            # A gateway's receipt may have come in before this: the message stays delivered or failed.
            updated = await core_rows(
                session,
                update(Message)
                .where(among(Message.id, chunk), Message.claimed_at == claimed_at,
                       Message.status.not_in(("pending", "sent", "cancelled")))
                .values(status=case((Message.status == "sending", "sent"), else_=Message.status),
                        sent_at=func.coalesce(Message.sent_at, now))
                .returning(Message.id),
            )  # fmt: skip
            accepted.update(updated.scalars())
        await _requeue(session, [o for o in outcomes if not o.accepted], still_ours, now)
        attempts: dict[tuple[str, str, int], list[Outgoing]] = defaultdict(list)
        for message in outgoing:
            if message.message_id in accepted:
                attempts[(message.warning_id, message.call_id, message.attempt)].append(message)
        notified = sorted({call_id for _, call_id, attempt in attempts if attempt > 0})
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
        events: list[audit_service.Event] = []
        for (warning_id, call_id, attempt), sent in attempts.items():
            events.append(
                audit_service.Event(
                    type="message.sent", actor="sender", warning_id=warning_id, call_id=call_id,
                    data={"attempt": attempt, "kind": sent[0].kind, "to": sent[0].to,
                          "messages": [{"id": m.message_id, "channel": m.channel} for m in sent]},
                )
            )  # fmt: skip
        await audit_service.record_warning_events(session, events, now=now)
    by_channel: dict[str, int] = defaultdict(int)
    for message in outgoing:
        if message.message_id in accepted:
            by_channel[message.channel] += 1
    for channel, count in by_channel.items():
        MESSAGES.labels(channel, "sent").inc(count)


async def _requeue(session: AsyncSession, refused: list[Outcome], still_ours: tuple[Any, ...], now: datetime) -> None:
    """Messages the provider did not take go back to pending, due again after an exponential,
    jittered delay (1, 2, 4 ... 60 s by how often they were tried), under the same id."""
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
        due = now + timedelta(seconds=webhook.backoff_s(tried))
        for chunk in chunks(message_ids):
            await session.execute(
                update(Message)
                .where(among(Message.id, chunk), *still_ours)
                .values(status="pending", error=error, tries=tried, due_at=due)
            )


async def _round(provider: Provider, now: datetime, batch: int) -> tuple[int, bool]:
    """One claim, hand-over and record; returns (accepted, whether to go on)."""
    round_now = max(now, utc_now())  # a long run of rounds keeps real times
    outgoing = await _claim(round_now, batch)
    if not outgoing:
        return 0, False
    outcomes = await provider.send(outgoing)
    try:
        await _record(outgoing, outcomes, max(round_now, utc_now()), claimed_at=round_now)
    except DBAPIError as exc:
        if not retryable(exc):
            raise
        # A deadlock victim: the provider has the messages, so record them again at once (the
        # updates only touch messages this round still holds).
        await _record(outgoing, outcomes, max(round_now, utc_now()), claimed_at=round_now)
    accepted = sum(1 for o in outcomes if o.accepted)
    # A provider refusing everything: the rest waits for a later tick.
    return accepted, accepted > 0


async def _rounds(provider: Provider, now: datetime, batch: int) -> int:
    sent, going = 0, True
    while going:
        accepted, going = await _round(provider, now, batch)
        sent += accepted
    return sent


async def send_due(provider: Provider, *, now: datetime, batch: int = BATCH) -> int:
    """Hand every due attempt and notice to the provider, batch by batch; returns how many were accepted.

    One round first: a tick with nothing due ends after one claim. Then, on PostgreSQL, several
    lanes run rounds side by side (their claims never overlap: SKIP LOCKED), so one lane's Python
    work overlaps another's waits on the database and the provider. SQLite has one writer at a
    time, where a second lane would only queue.
    """
    if not provider.ready():  # backing off a failing gateway; deadlines run on meanwhile
        return 0
    batch = provider.batch_size(batch)
    sent, going = await _round(provider, now, batch)
    if not going:
        return sent
    lanes = 1 if get_database().is_sqlite else LANES
    results = await asyncio.gather(*(_rounds(provider, now, batch) for _ in range(lanes)), return_exceptions=True)
    failures = [result for result in results if isinstance(result, BaseException)]
    if failures:  # every lane has finished; the heartbeat logs this and tries again next tick
        raise failures[0]
    return sent + sum(result for result in results if isinstance(result, int))
