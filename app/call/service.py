"""Answers (叫应) and reports back (反馈) on calls, and the regions they reach."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.call import db as call_db
from app.call import hooks, tokens
from app.call import metrics as call_metrics
from app.errors import AppError, Conflict, NotFound
from app.models.call import OPEN_STATUSES, Call, CallToken, Feedback
from app.models.warning import Warning, WarningRegion

# Answers, feedback and confirmations stay open this long after a warning closes; then its record
# is sealed and its figures rolled up for the reports (report.rollup).
FEEDBACK_WINDOW = timedelta(days=7)
ANSWERABLE = ("pending", "notified", "unanswered")


async def mark_regions_reached(
    session: AsyncSession,
    warning_id: str,
    codes: list[str],
    *,
    by: str,
    actor: str,
    call_id: str | None,
    now: datetime,
    details: dict[str, Any] | None = None,
) -> list[audit_service.Event]:
    """Mark targeted regions reached (the first answer wins); returns a region.reached event for each
    region newly reached, for the caller to record after its own event."""
    if not codes:
        return []
    result = await session.execute(
        update(WarningRegion)
        .where(
            WarningRegion.warning_id == warning_id,
            WarningRegion.region_code.in_(codes),
            WarningRegion.state != "reached",
        )
        .values(state="reached", reached_at=now, reached_by=by)
        .returning(WarningRegion.region_code)
    )
    return [
        audit_service.Event(
            type="region.reached", actor=actor, warning_id=warning_id, call_id=call_id, region_code=code,
            data={"by": by, **(details or {})},
        )
        for code in sorted(result.scalars())
    ]  # fmt: skip


async def acknowledge(
    session: AsyncSession,
    call: Call,
    *,
    method: str,
    actor: str,
    now: datetime,
    how: str | None = None,
    note: str | None = None,
    confirming: tuple[list[str], dict[str, Any]] | None = None,
) -> Call:
    """Record an answer on a call (idempotent); a late one counts and is marked late. `confirming`
    (codes, details): regions the person has been to, confirmed reached in the same step (已叫醒)."""
    if call.status == "acknowledged":
        return call
    if call.hazard_id is not None:
        await call_db.lock_reports(session, [call.hazard_id])
        await session.refresh(call)
        if call.status == "acknowledged":
            return call
    if call.status not in ANSWERABLE:
        raise Conflict(f"Call {call.id} is {call.status}; it can no longer be acknowledged.")
    if call.warning_id is not None:
        ensure_unsealed(await session.get_one(Warning, call.warning_id), now)
    late = now > call.deadline_at
    answered = await session.execute(
        update(Call)
        .where(Call.id == call.id, Call.status.in_(ANSWERABLE))
        .values(status="acknowledged", acknowledged_at=now, ack_method=method, ack_note=note, ack_by=actor,
                late=late, next_attempt_at=None, closed_at=now)
        .returning(Call.id)
    )  # fmt: skip
    if answered.scalar() is None:  # answered (or closed) by someone else meanwhile
        await session.refresh(call)
        return await acknowledge(
            session, call, method=method, actor=actor, now=now, how=how, note=note, confirming=confirming
        )
    await session.refresh(call)
    call_metrics.acknowledged(method, call.created_at, now)
    reached = await _regions_reached(session, call, method=method, actor=actor, now=now, confirming=confirming)
    data: dict[str, Any] = {"method": method, "late": late, **({"how": how} if how else {}),
                            **({"note": note} if note else {})}  # fmt: skip
    acknowledged = audit_service.Event(
        type="call.acknowledged", actor=actor, warning_id=call.warning_id, hazard_id=call.hazard_id,
        call_id=call.id, region_code=call.contact_region_code, data=data,
    )  # fmt: skip
    await audit_service.record_warning_events(session, [acknowledged, *reached], now=now)
    await hooks.answered(session, [hooks.Answered(call.id, call.kind, call.hazard_id, method, actor)], now)
    return call


async def _regions_reached(
    session: AsyncSession,
    call: Call,
    *,
    method: str,
    actor: str,
    now: datetime,
    confirming: tuple[list[str], dict[str, Any]] | None,
) -> list[audit_service.Event]:
    """An answered alert's regions marked reached, and those the person confirms having been to.
    Regions before the chain head: every path that answers a call locks in this order (call and its
    tally, regions and theirs, chain), so two answers in one village cannot deadlock."""
    if call.warning_id is None:
        return []
    reached = []
    if call.kind == "alert":
        reached = await mark_regions_reached(
            session, call.warning_id, call.region_codes, by=method, actor=actor, call_id=call.id, now=now
        )
    if confirming is not None:
        codes, details = confirming
        reached += await mark_regions_reached(
            session, call.warning_id, codes, by="confirmed", actor=actor, call_id=call.id, now=now, details=details
        )
    return reached


async def get_call(session: AsyncSession, call_id: str) -> Call:
    call = await session.get(Call, call_id)
    if call is None:
        raise NotFound(f"No call has id {call_id!r}.")
    return call


async def call_by_token(session: AsyncSession, token: str) -> Call | None:
    """The call behind a link's token, if any (a guess is turned away without a lookup)."""
    if not tokens.plausible(token):
        return None
    token_hash = tokens.hash_token(token)
    return await session.scalar(
        select(Call).join(CallToken, CallToken.call_id == Call.id).where(CallToken.token_hash == token_hash)
    )


def answered_by_reply(call: Call) -> bool:
    """Whether a 收到 by SMS or by key, which names no call, answers this one of the phone's calls:
    any call a link could answer (ANSWERABLE), but of those whose time ran out, only alerts (late),
    not escalation calls, whose regions have gone further up."""
    return call.status in ANSWERABLE and (call.status != "unanswered" or call.kind == "alert")


def closed_a_week(closed_at: datetime | None, now: datetime) -> bool:
    """Whether a warning closed at `closed_at` ended more than a week ago: its links are gone and its
    record takes no more answers, feedback or confirmations (it is sealed soon after)."""
    return closed_at is not None and now > closed_at + FEEDBACK_WINDOW


def ensure_unsealed(warning: Warning, now: datetime) -> None:
    """410 once the warning's record is sealed, a week after it ended: its figures are final."""
    if warning.sealed_at is not None or closed_a_week(warning.closed_at, now):
        raise AppError(
            f"Warning {warning.id} ended more than a week ago; its record is sealed and takes no more "
            "answers, feedback or confirmations.",
            status=410,
        )


async def add_feedback(
    session: AsyncSession,
    call: Call,
    warning: Warning,
    *,
    stage: str,
    actions: str,
    evacuated: int | None,
    note: str,
    actor: str,
    now: datetime,
) -> Feedback:
    """A 首报/续报/终报 on a call; acknowledges it too if it was not yet."""
    ensure_unsealed(warning, now)
    if call.final_feedback_at is not None:
        raise Conflict("The final report (终报) was already sent; no more feedback is taken on this call.")
    if call.status != "acknowledged" and call.status in ANSWERABLE:
        await acknowledge(session, call, method="link", actor=actor, now=now)
    feedback = Feedback(
        call_id=call.id,
        warning_id=call.warning_id,
        stage=stage,
        actions=actions,
        evacuated=evacuated,
        note=note,
        created_at=now,
    )
    session.add(feedback)
    values: dict[str, Any] = {"feedback_count": Call.feedback_count + 1}
    if stage == "final":
        values["final_feedback_at"] = now
    # Guarded: of two reports racing past the check above, only one lands after a final.
    counted = await session.execute(
        update(Call).where(Call.id == call.id, Call.final_feedback_at.is_(None)).values(**values).returning(Call.id)
    )
    if counted.scalar() is None:
        raise Conflict("The final report (终报) was already sent; no more feedback is taken on this call.")
    await session.flush()
    await audit_service.record_event(
        session,
        audit_service.Event(
            type="feedback.received",
            actor=actor,
            warning_id=call.warning_id,
            call_id=call.id,
            region_code=call.contact_region_code,
            data={"feedback_id": feedback.id, "stage": stage, "actions": actions, "evacuated": evacuated, "note": note},
        ),
        chain=audit_service.warning_chain(warning.id),
        now=now,
    )
    return feedback


async def bring_attempt_forward(session: AsyncSession, call_id: str, *, reason: str, now: datetime) -> bool:
    """One call's next attempt brought forward (see bring_attempts_forward), its event recorded."""
    events = await bring_attempts_forward(session, [call_id], reason=reason, now=now)
    await audit_service.record_warning_events(session, events, now=now)
    return bool(events)


async def bring_attempts_forward(
    session: AsyncSession, call_ids: list[str], *, reason: str, now: datetime
) -> list[audit_service.Event]:
    """A failed delivery brings each call's next attempt forward to now: it counts as that attempt,
    later attempts keep their times, and a failure on the last attempt waits for the deadline (the
    call then has no next attempt). Returns a `call.retried` event for each call moved, for the
    caller to record with its others (the calls should be locked already, in id order)."""
    events = []
    for call_id in sorted(set(call_ids)):
        moved = (
            await session.execute(
                update(Call)
                .where(Call.id == call_id, Call.status.in_(OPEN_STATUSES), Call.next_attempt_at > now)
                .values(next_attempt_at=now)
                .returning(Call.warning_id, Call.hazard_id, Call.contact_region_code, Call.attempts)
            )
        ).one_or_none()
        if moved is not None:
            events.append(audit_service.Event(
                type="call.retried", actor="sender", warning_id=moved.warning_id, hazard_id=moved.hazard_id,
                call_id=call_id,
                region_code=moved.contact_region_code, data={"attempt": moved.attempts + 1, "reason": reason},
            ))  # fmt: skip
    return events


async def cancel_open_calls_of(session: AsyncSession, contact_ids: list[str], *, actor: str, now: datetime) -> int:
    """A contact taken off the roster is no longer chased: their open calls are cancelled. The
    reports some of them were about are locked first (the order every step of a report takes), all
    at once in id order, and told (hooks.cancelled): a report is called anew rather than left with
    nobody asked to take it."""
    hazard_ids: list[str | None] = []
    for start in range(0, len(contact_ids), 1000):
        about_reports = select(Call.hazard_id).where(
            Call.contact_id.in_(contact_ids[start : start + 1000]), Call.hazard_id.is_not(None),
            Call.status.in_(OPEN_STATUSES),
        )  # fmt: skip
        hazard_ids += (await session.execute(about_reports)).scalars()
    await call_db.lock_reports(session, hazard_ids)
    closed: list[Any] = []
    for start in range(0, len(contact_ids), 1000):
        chunk = contact_ids[start : start + 1000]
        closed += (
            await session.execute(
                update(Call)
                .where(Call.contact_id.in_(chunk), Call.status.in_(OPEN_STATUSES))
                .values(status="cancelled", closed_at=now, next_attempt_at=None)
                .returning(Call.id, Call.warning_id, Call.hazard_id, Call.contact_region_code, Call.hazard_step,
                           Call.department_id)
            )
        ).all()  # fmt: skip
    events = [
        audit_service.Event(type="call.cancelled", actor=actor, warning_id=row.warning_id, hazard_id=row.hazard_id,
                            call_id=row.id, region_code=row.contact_region_code,
                            data={"reason": "contact deactivated"})
        for row in closed
    ]  # fmt: skip
    await audit_service.record_warning_events(session, events, now=now)
    about = [hooks.Cancelled(row.id, row.hazard_id, row.hazard_step, row.department_id)
             for row in sorted(closed, key=lambda row: row.id) if row.hazard_id is not None]  # fmt: skip
    await hooks.cancelled(session, about, now)
    return len(closed)
