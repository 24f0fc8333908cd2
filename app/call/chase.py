"""The chase (the heartbeat's chase-calls): calls past their deadline become `unanswered`, and
the regions they leave behind are escalated (call.escalation).

The heartbeat chases one warning per transaction (`chase`), under the warning's row lock, taken
with SKIP LOCKED: several processes share the warnings, never one warning, so a supervisor can
never be given two open escalation calls (a partial unique index would refuse it anyway). In that
transaction: calls past their deadline become `unanswered`; escalation calls whose regions have
all been reached since are cancelled; and the regions left behind are escalated. A crash anywhere
rolls the whole transaction back and the next tick does it again.
"""

import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.call import db as call_db
from app.call import metrics as call_metrics
from app.call.escalation import Item, escalate
from app.db import chunks, session_scope
from app.models.call import IS_ESCALATION, IS_OPEN, OPEN_STATUSES, Call
from app.models.warning import OPEN_STATUSES as OPEN_WARNING
from app.models.warning import Warning, WarningRegion
from app.policy.snapshot import PolicySnapshot

log = logging.getLogger(__name__)


async def due_warning_ids(
    session: AsyncSession, *, now: datetime, skip: Collection[str] = (), limit: int = 100
) -> list[str]:
    """Warnings with work for `chase`: open calls past their deadline, or open escalation calls to
    settle. Both read partial indexes that hold only open calls, never the calls table."""
    # Calls about a hazard report have no warning: hazard.chase looks after them.
    past_deadline = (
        select(Call.warning_id)
        .where(IS_OPEN, Call.deadline_at <= now, Call.warning_id.is_not(None))
        .order_by(Call.deadline_at)
    )
    # Grouped over the partial index of open escalations (a few rows); the deadlines are read in
    # their own order, which a grouping would trade for a scan of the calls by warning.
    escalating = select(Call.warning_id).where(IS_ESCALATION, IS_OPEN).group_by(Call.warning_id)
    found: set[str] = set()
    for query in (past_deadline, escalating.order_by(Call.warning_id)):
        if skip:
            query = query.where(Call.warning_id.not_in(sorted(skip)))
        found.update(w for w in (await session.execute(query.limit(limit))).scalars() if w is not None)
    return sorted(found)


DueIds = Callable[..., Awaitable[list[str]]]
ChaseOne = Callable[..., Awaitable[Any]]


async def chase_in_turn(due: DueIds, chase_one: ChaseOne, *, now: datetime, rounds: int, what: str) -> int:
    """Chase everything `due` finds, one transaction each; returns how many were looked at. One
    that fails is logged and left for the next tick; the others go on (warnings here, reports in
    hazard.chase)."""
    chased: set[str] = set()
    for _ in range(rounds):
        async with session_scope(read_only=True) as session:
            waiting = await due(session, now=now, skip=chased)
        if not waiting:
            break
        for subject_id in waiting:
            chased.add(subject_id)
            try:
                async with session_scope() as session:
                    await chase_one(session, subject_id, now=now)
            except Exception:
                log.exception("chasing %s %s failed; retrying on the next tick", what, subject_id)
    return len(chased)


async def chase_due(*, now: datetime, rounds: int = 10) -> int:
    """Chase every warning with due work, one transaction each; returns how many were looked at."""
    return await chase_in_turn(due_warning_ids, chase, now=now, rounds=rounds, what="warning")


async def _lock_open_warning(session: AsyncSession, warning_id: str, now: datetime) -> Warning | None:
    """The warning under a row lock, or None if it is closed, past its expiry (the expiry job closes
    it), or held by another process right now."""
    warning = await session.scalar(
        select(Warning)
        .where(Warning.id == warning_id)
        .with_for_update(skip_locked=True, key_share=True)
        .execution_options(populate_existing=True)
    )
    if warning is None or warning.status not in OPEN_WARNING:
        return None
    if warning.expires is not None and warning.expires <= now:
        return None
    return warning


async def chase(session: AsyncSession, warning_id: str, *, now: datetime) -> bool:
    """Close the warning's calls past their deadline, settle and escalate; False if skipped."""
    warning = await _lock_open_warning(session, warning_id, now)
    if warning is None:
        return False
    # Every call this transaction may write, locked in id order as every other writer of calls
    # does (call.db.lock_calls), so a late answer arriving now queues instead of deadlocking.
    await call_db.lock_calls(
        session,
        Call.warning_id == warning.id,
        IS_OPEN,
        or_(Call.deadline_at <= now, IS_ESCALATION),
    )
    closed = (
        await session.execute(
            update(Call)
            .where(Call.warning_id == warning.id, Call.status.in_(OPEN_STATUSES), Call.deadline_at <= now)
            .values(status="unanswered", next_attempt_at=None)
            .returning(Call.id, Call.kind, Call.contact_region_code, Call.region_codes, Call.about_region_codes,
                       Call.escalated_from, Call.attempts)
        )
    ).all()  # fmt: skip
    call_metrics.CALLS_UNANSWERED.inc(len(closed))
    events = [
        audit_service.Event(type="call.unanswered", actor="scheduler", warning_id=warning.id, call_id=call.id,
                            region_code=call.contact_region_code, data={"kind": call.kind, "attempts": call.attempts})
        for call in sorted(closed, key=lambda call: call.id)
    ]  # fmt: skip
    events += await _settle(session, warning, now=now)
    if PolicySnapshot.of(warning.policy).escalate and closed:
        events += await escalate(session, warning, await _items(session, warning, closed), now=now)
    await audit_service.record_events(session, events, chain=audit_service.warning_chain(warning.id), now=now)
    return True


async def _items(session: AsyncSession, warning: Warning, closed: Sequence[Any]) -> list[Item]:
    """What the calls just gone unanswered leave to escalate."""
    states = await _states(session, warning.id, {code for call in closed for code in _about(call)})
    taken_on = await _taken_on(session, warning.id)
    items: dict[str, Item] = {}
    for call in sorted(closed, key=lambda call: call.id):  # ids sort by time: the earliest call first
        for code in _about(call):
            region = states.get(code)
            if region is None or code in items or code in taken_on or region.state == "reached":
                continue
            if call.kind == "alert":
                # Once per region: a region escalated before (an update added to it) is not sent again.
                if region.state == "unreached" and region.escalated_at is None:
                    items[code] = Item(code, code, call.id)
            elif region.state in ("unreached", "uncovered"):
                items[code] = Item(code, call.contact_region_code, call.escalated_from)
    if any(call.kind == "alert" for call in closed):
        # The warning's deadline has come (its alert calls share it). A region still unreached
        # whose calls were cancelled on the way (its people taken off the roster) has no call
        # going unanswered to bring it here: it goes up all the same.
        stranded = select(WarningRegion.region_code).where(
            WarningRegion.warning_id == warning.id,
            WarningRegion.state == "unreached",
            WarningRegion.escalated_at.is_(None),
        )
        for code in (await session.execute(stranded)).scalars():
            if code not in items and code not in taken_on:
                items[code] = Item(code, code, None)
    return list(items.values())


def _about(call: Any) -> list[str]:
    return list(call.region_codes if call.kind == "alert" else call.about_region_codes)


async def _states(session: AsyncSession, warning_id: str, codes: set[str]) -> dict[str, WarningRegion]:
    found: dict[str, WarningRegion] = {}
    for chunk in chunks(sorted(codes)):
        query = select(WarningRegion).where(
            WarningRegion.warning_id == warning_id, WarningRegion.region_code.in_(chunk)
        )
        found.update((region.region_code, region) for region in await session.scalars(query))
    return found


async def _taken_on(session: AsyncSession, warning_id: str) -> set[str]:
    """Regions a supervisor has taken on (acknowledged an escalation naming them): no further up."""
    rows = await session.execute(
        select(Call.about_region_codes).where(
            Call.warning_id == warning_id, Call.kind == "escalation", Call.status == "acknowledged"
        )
    )
    return {code for (codes,) in rows.tuples() for code in codes}


async def _settle(session: AsyncSession, warning: Warning, *, now: datetime) -> list[audit_service.Event]:
    """Cancel open escalation calls whose every region has been reached since (a late answer, a
    confirmation, another supervisor's 已叫醒)."""
    # Locked above (chase), and read again: an answer committed meanwhile is seen, never overwritten.
    open_calls = list(
        await session.scalars(
            select(Call)
            .where(Call.warning_id == warning.id, IS_ESCALATION, IS_OPEN)
            .order_by(Call.id)
            .execution_options(populate_existing=True)
        )
    )
    if not open_calls:
        return []
    states = await _states(session, warning.id, {code for call in open_calls for code in call.about_region_codes})
    settled = [
        call
        for call in open_calls
        if all(states[code].state == "reached" for code in call.about_region_codes if code in states)
    ]
    for call in settled:
        call.status, call.closed_at, call.next_attempt_at = "cancelled", now, None
    await session.flush()
    return [
        audit_service.Event(type="call.cancelled", actor="scheduler", warning_id=warning.id, call_id=call.id,
                            region_code=call.contact_region_code, data={"reason": "regions reached"})
        for call in settled
    ]  # fmt: skip
