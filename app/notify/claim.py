"""The sender's first step: due work claimed and turned into messages (see app.notify.sender).

Due attempts are claimed by priority (app.models.call.priority: red before blue, supervisors
before first attempts before retries), each priority a range scan of the calls' queue index, with
FOR UPDATE SKIP LOCKED so any number of processes share the work. Each call's attempt becomes one
message per channel it has, written `sending`; the call moves on to its next attempt. Messages
waiting again (notices, hand-overs refused earlier, and any left in `sending` by a crash) are
claimed the same way, most urgent first.
"""

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import i18n
from app.audit import service as audit_service
from app.bulk import bulk_insert
from app.call import tokens
from app.channels import CHANNELS
from app.contact.language import languages_of
from app.db import among, chunks, core_rows, session_scope
from app.ids import new_ids
from app.models.call import OPEN_STATUSES, PRIORITIES, Call
from app.models.call import priority as call_priority
from app.models.contact import Contact
from app.models.hazard import Hazard
from app.models.notify import IS_PENDING, IS_SENDING, Message
from app.models.warning import Warning
from app.notify import db as notify_db
from app.notify import hazard_texts, templates
from app.notify.base import Outgoing, Plan
from app.notify.callees import CalleeBook
from app.notify.wording import attempt_texts, link_length, readable_channels, region_names, uncovered_regions
from app.policy.snapshot import PolicySnapshot


class _Stored:
    """A message just written by this round, read back without a query."""

    def __init__(self, **columns: Any) -> None:
        self.__dict__.update(columns)


def message_row(call: Any, channel: str, attempt: int, text_: str, *, priority: int, now: datetime) -> dict[str, Any]:
    return {
        "id": None, "call_id": call.id, "warning_id": call.warning_id, "hazard_id": getattr(call, "hazard_id", None),
        "kind": call.kind,
        "channel": channel,
        "to": call.contact_phone, "attempt": attempt, "text": text_, "with_link": CHANNELS[channel].form == "text",
        "status": "sending", "priority": priority, "provider": None, "due_at": now, "created_at": now,
        "claimed_at": now, "sent_at": None, "error": None,
    }  # fmt: skip


_DUE_COLUMNS = (Call.id, Call.contact_id, Call.warning_id, Call.hazard_id, Call.hazard_step, Call.department_id,
                Call.kind, Call.contact_phone, Call.channels, Call.region_codes, Call.about_region_codes, Call.attempts,
                Call.created_at, Call.deadline_at, Call.status, Call.priority)  # fmt: skip


async def _due_calls(session: AsyncSession, now: datetime, batch: int) -> list[Any]:
    """Lock up to `batch` due calls, the most urgent first."""
    # Every path that closes a call clears its next attempt, so the time alone finds the due ones:
    # per priority, a range scan of one index. The status is still checked, and a stray closed
    # call repaired.
    rows: list[Any] = []
    for priority in PRIORITIES:
        if len(rows) >= batch:
            break
        query = (
            select(*_DUE_COLUMNS)
            .where(Call.priority == priority, Call.next_attempt_at <= now)
            .order_by(Call.next_attempt_at)
            .limit(batch - len(rows))
            .with_for_update(skip_locked=True)
        )
        rows.extend((await core_rows(session, query)).all())
    stray = [row.id for row in rows if row.status not in OPEN_STATUSES]
    for chunk in chunks(stray):
        await session.execute(update(Call).where(among(Call.id, chunk)).values(next_attempt_at=None))
    return [row for row in rows if row.status in OPEN_STATUSES]


async def claim_attempts(session: AsyncSession, now: datetime, batch: int, plan: Plan) -> list[dict[str, Any]]:
    """Lock due calls, store their attempt's messages as `sending`, and schedule the next attempt.
    A channel no provider carries is left out (the person's other channels go instead); a person
    with no carried channel at all gets the attempt's messages stored `failed`, on the record."""
    due = await _due_calls(session, now, batch)
    if not due:
        return []
    warning_ids = {call.warning_id for call in due if call.warning_id is not None}
    warnings = {w.id: w for w in await session.scalars(select(Warning).where(Warning.id.in_(warning_ids)))}
    rules_of = {warning_id: PolicySnapshot.of(w.policy) for warning_id, w in warnings.items()}  # once a round
    reports = await hazard_texts.reports_of(session, sorted({c.hazard_id for c in due if c.hazard_id is not None}))
    languages = await languages_of(session, {call.contact_id for call in due})
    signature = plan.signature
    codes = {code for call in due for code in (*call.region_codes, *call.about_region_codes)}
    names = await region_names(session, warning_ids, codes)
    about = {code for call in due if call.kind == "escalation" for code in call.about_region_codes}
    uncovered = await uncovered_regions(session, warning_ids, about) if about else frozenset()
    length = link_length(plan.public_url)
    limited = {channel: limits for channel, limits in plan.callee_limits.items() if limits}
    book = await CalleeBook.load(session, {call.contact_phone for call in due}, limited, now=now)
    messages: list[dict[str, Any]] = []
    moves: list[tuple[str, int, datetime | None, int]] = []
    # People of one village get the same words: each text is made once a round.
    texts_of: dict[tuple[Any, ...], dict[str, str]] = {}
    for call in due:
        lang = languages.get(call.contact_id, i18n.SOURCE)
        if call.warning_id is None:  # a call about a hazard report
            report = reports[call.hazard_id]
            level, policy = report.level, report.policy(call)
            texts = report.texts(call, signature=signature, link_length=length, lang=lang)
        else:
            warning = warnings[call.warning_id]
            level, policy = warning.level, rules_of[warning.id]
            wording = (call.warning_id, call.kind, tuple(call.region_codes), tuple(call.about_region_codes), lang)
            if wording not in texts_of:
                texts_of[wording] = attempt_texts(warning, call, names, length, uncovered, lang, signature=signature)
            texts = texts_of[wording]
        attempt = policy.current_attempt(call.created_at, now, call.attempts)
        next_at = policy.attempt_due_at(call.created_at, attempt + 1)
        carried = [channel for channel in call.channels if plan.carries(channel, call.kind)]
        channels = policy.attempt_channels(attempt, carried or call.channels)
        for channel in readable_channels(channels, carried, lang, plan):
            row = message_row(call, channel, attempt, texts[channel], priority=call.priority, now=now)
            if not carried:
                error = (f"no provider of {channel} carries {call.kind} messages" if channel in plan.channels
                         else f"no provider is configured for {channel}")  # fmt: skip
                row.update(status="failed", error=error, claimed_at=None)
            elif (free := book.free_at(call.contact_phone, channel, now)) > now:
                _wait_for_limit(row, call, channel, free, attempt, next_at)
            if row["status"] in ("sending", "pending"):
                book.add(call.contact_phone, channel, row["due_at"])
            messages.append(row)
        moves.append((call.id, attempt, next_at, call_priority(level, call.kind, retry=True)))
    for message, message_id in zip(messages, new_ids(len(messages)), strict=True):
        message["id"] = message_id
    await bulk_insert(session, Message, messages)
    await _record_unavailable(session, [m for m in messages if m["status"] == "failed"], now)
    await notify_db.move_calls_on(session, moves)
    return [m for m in messages if m["status"] == "sending"]


def _wait_for_limit(
    row: dict[str, Any], call: Any, channel: str, free: datetime, attempt: int, next_at: datetime | None
) -> None:
    """A per-callee limit: the message waits until `free`, unless the next attempt comes first (then
    the two merge, as attempts held back by a rate limit do) or the deadline."""
    if next_at is not None and next_at <= free:
        row.update(status="cancelled", claimed_at=None, error=f"{channel} to this number is limited "
                   f"until {free.isoformat()}: merged into attempt {attempt + 1}")  # fmt: skip
    elif free >= call.deadline_at:
        row.update(status="cancelled", claimed_at=None, error=f"{channel} to this number is limited "
                   f"until {free.isoformat()}, after the deadline")  # fmt: skip
    else:
        row.update(status="pending", due_at=free, claimed_at=None)


async def _record_unavailable(session: AsyncSession, failed: list[dict[str, Any]], now: datetime) -> None:
    """A message no provider can carry is a failure on the record, as a gateway's would be."""
    events = [
        audit_service.Event(
            type="message.failed",
            actor="sender",
            warning_id=m["warning_id"],
            hazard_id=m["hazard_id"],
            call_id=m["call_id"],
            data={"message_id": m["id"], "channel": m["channel"], "attempt": m["attempt"], "error": m["error"]},
        )
        for m in failed
    ]
    if events:
        await audit_service.record_warning_events(session, events, now=now)


async def drop_closed(session: AsyncSession, message_ids: list[str]) -> list[str]:
    """Of messages waiting again (refused, held, or left in `sending` by a crash), cancel the
    attempts whose call has since been answered or cancelled, or has made a later attempt (the two
    merge); returns the rest. Notices (attempt 0) always go, and so do attempts of calls gone
    unanswered meanwhile: the attempt was due, and a late answer counts."""
    closed: dict[str, str] = {}
    for chunk in chunks(message_ids):
        rows = await session.execute(
            select(Message.id, Call.status, Call.attempts)
            .join(Call, Call.id == Message.call_id)
            .where(among(Message.id, chunk), Message.attempt > 0)
            .where(or_(Call.status.in_(("acknowledged", "cancelled")), Message.attempt < Call.attempts))
        )
        for message_id, status, attempts in rows.tuples():
            closed[message_id] = (
                "call closed before sending" if status in ("acknowledged", "cancelled")
                else f"merged into attempt {attempts}"
            )  # fmt: skip
    by_error: dict[str, list[str]] = defaultdict(list)
    for message_id, error in closed.items():
        by_error[error].append(message_id)
    for error, ids in by_error.items():
        for chunk in chunks(ids):
            await session.execute(
                update(Message).where(among(Message.id, chunk)).values(status="cancelled", error=error)
            )
    return [message_id for message_id in message_ids if message_id not in closed]


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


async def claim(now: datetime, batch: int, plan: Plan, *, reclaim_after: timedelta) -> list[Outgoing]:
    """One claim in its own transaction: due attempts, and messages waiting again (a message left
    `sending` longer than `reclaim_after` by a process that died); with links."""
    async with session_scope() as session:
        claimed = await claim_attempts(session, now, batch, plan)
        # Notices (lifting, withdrawal) are stored pending; anything stuck in `sending` is retried.
        waiting = and_(IS_PENDING, Message.due_at <= now)
        if _stuck_check_due(now, reclaim_after):
            waiting = or_(waiting, and_(IS_SENDING, Message.claimed_at < now - reclaim_after))
        query = select(Message.id).where(waiting).order_by(Message.priority, Message.due_at).limit(batch)
        others = list((await session.execute(query.with_for_update(skip_locked=True))).scalars())
        others = await drop_closed(session, others)
        for chunk in chunks(others):
            await session.execute(
                update(Message).where(among(Message.id, chunk)).values(status="sending", claimed_at=now)
            )
        if not claimed and not others:
            return []
        rows: list[Any] = [_Stored(**message) for message in claimed]
        for chunk in chunks(others):
            rows.extend(await session.scalars(select(Message).where(among(Message.id, chunk))))
        warning_ids = {m.warning_id for m in rows if m.warning_id is not None}
        level_query = select(Warning.id, Warning.level).where(Warning.id.in_(warning_ids))
        levels: dict[str | None, str] = dict((await session.execute(level_query)).tuples().all())  # fmt: skip
        hazard_ids = {m.hazard_id for m in rows if m.hazard_id is not None}
        hazards = select(Hazard.id, Hazard.urgent).where(Hazard.id.in_(hazard_ids))
        report_levels = {
            id_: "red" if urgent else "orange" for id_, urgent in (await session.execute(hazards)).tuples()
        }
        secret = tokens.instance_secret()
        report_links = await _report_links(session, [m for m in rows if getattr(m, "contact_id", None)], secret)
    public_url = plan.public_url
    outgoing = []
    for message in rows:
        contact_id = getattr(message, "contact_id", None)
        region_code = None
        if contact_id is not None:  # a contact's report link, as it stands now
            if message.id not in report_links:
                continue
            token, region_code = report_links[message.id]
            url: str | None = tokens.report_url(public_url, token)
        elif message.with_link:
            url = tokens.ack_url(public_url, tokens.derive_token(secret, message.call_id))
        else:
            url = None
        body = message.text.replace(templates.LINK, url) if url else message.text
        # A report link's SMS is a notice of the lowest urgency: blue.
        level = levels[message.warning_id] if message.warning_id else report_levels.get(message.hazard_id, "blue")
        outgoing.append(Outgoing(message_id=message.id, call_id=message.call_id, warning_id=message.warning_id,
                                 hazard_id=message.hazard_id, contact_id=contact_id, region_code=region_code,
                                 kind=message.kind,
                                 channel=message.channel, to=message.to, text=body, ack_url=url, level=level,
                                 attempt=message.attempt, priority=message.priority))  # fmt: skip
    return outgoing


async def _report_links(session: AsyncSession, messages: list[Any], secret: bytes) -> dict[str, tuple[str, str]]:
    """The report links these messages carry (message id -> (token, the contact's region)),
    derived from each contact's nonce now. A message to a contact deactivated since, or to a number
    the contact no longer has, is cancelled instead (the link must not reach the old number)."""
    if not messages:
        return {}
    ids = sorted({m.contact_id for m in messages})
    contacts = {row.id: row for row in await session.execute(
        select(Contact.id, Contact.report_nonce, Contact.phone, Contact.region_code)
        .where(Contact.id.in_(ids), Contact.active, Contact.report_nonce.is_not(None))
    )}  # fmt: skip
    dead = [m.id for m in messages if m.contact_id not in contacts or contacts[m.contact_id].phone != m.to]
    if dead:
        error = "the contact was deactivated or has another phone"
        await session.execute(update(Message).where(Message.id.in_(dead)).values(status="cancelled", error=error))
    return {
        m.id: (tokens.derive_report_token(secret, m.contact_id, contact.report_nonce), contact.region_code)
        for m in messages
        if m.id not in dead and (contact := contacts[m.contact_id])
    }
