"""Answers (叫应) and reports back (反馈) on calls, and the regions they reach."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import BindParameter, Table, bindparam, column, select, table, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.call import hooks
from app.call import metrics as call_metrics
from app.db import core_rows
from app.errors import AppError, Conflict, NotFound
from app.models.call import OPEN_STATUSES, Call, CallToken, Feedback
from app.models.warning import Warning, WarningRegion

# Answers, feedback and confirmations stay open this long after a warning closes; then its record
# is sealed and its figures rolled up for the reports (report.rollup).
FEEDBACK_WINDOW = timedelta(days=7)
ANSWERABLE = ("pending", "notified", "unanswered")


async def lock_calls(session: AsyncSession, *conditions: Any) -> list[str]:
    """Lock the matching calls in id order before a multi-row update, so that writers updating
    overlapping sets of calls queue rather than deadlock (PostgreSQL; SQLite has one writer)."""
    if session.bind.dialect.name != "postgresql":
        return []
    query = select(Call.id).where(*conditions).order_by(Call.id).with_for_update(key_share=True)
    return list((await session.execute(query)).scalars())


# The reports of calls about hazard reports, as a plain table: the calls sit below the reports.
_reports = table("hazards", column("id"))


async def lock_reports(session: AsyncSession, hazard_ids: Any) -> None:
    """Before answering calls about hazard reports: their reports locked in id order, then the
    reports' open calls in id order. The order every step of a report takes (hazard.steps), so an
    answer, a step, the chase and the sender queue instead of deadlocking (PostgreSQL)."""
    ids = sorted({hazard_id for hazard_id in hazard_ids if hazard_id})
    if not ids or session.bind.dialect.name != "postgresql":
        return
    await session.execute(select(_reports.c.id).where(_reports.c.id.in_(ids)).order_by(_reports.c.id).with_for_update())
    await lock_calls(session, Call.hazard_id.in_(ids), Call.status.in_(OPEN_STATUSES))


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
        await lock_reports(session, [call.hazard_id])
        await session.refresh(call)
        if call.status == "acknowledged":
            return call
    if call.status not in ANSWERABLE:
        raise Conflict(f"Call {call.id} is {call.status}; it can no longer be acknowledged.")
    if call.warning_id is not None:
        ensure_unsealed(await session.get_one(Warning, call.warning_id), now)
    late = now > call.deadline_at
    result = await session.execute(
        update(Call)
        .where(Call.id == call.id, Call.status.in_(ANSWERABLE))
        .values(
            status="acknowledged",
            acknowledged_at=now,
            ack_method=method,
            ack_note=note,
            ack_by=actor,
            late=late,
            next_attempt_at=None,
            closed_at=now,
        )
        .returning(Call.id)
    )
    if result.scalar() is None:  # answered (or closed) by someone else meanwhile
        await session.refresh(call)
        return await acknowledge(
            session, call, method=method, actor=actor, now=now, how=how, note=note, confirming=confirming
        )
    await session.refresh(call)
    call_metrics.acknowledged(method, call.created_at, now)
    # Regions before the chain head: every path that answers a call locks in this order (call and its
    # tally, regions and theirs, chain), so two answers in one village cannot deadlock.
    reached = []
    if call.kind == "alert" and call.warning_id is not None:
        reached = await mark_regions_reached(
            session, call.warning_id, call.region_codes, by=method, actor=actor, call_id=call.id, now=now
        )
    if confirming is not None and call.warning_id is not None:
        codes, details = confirming
        reached += await mark_regions_reached(
            session, call.warning_id, codes, by="confirmed", actor=actor, call_id=call.id, now=now, details=details
        )
    data: dict[str, Any] = {"method": method, "late": late}
    if how:
        data["how"] = how
    if note:
        data["note"] = note
    acknowledged = audit_service.Event(
        type="call.acknowledged",
        actor=actor,
        warning_id=call.warning_id,
        hazard_id=call.hazard_id,
        call_id=call.id,
        region_code=call.contact_region_code,
        data=data,
    )
    await audit_service.record_warning_events(session, [acknowledged, *reached], now=now)
    await hooks.answered(session, [hooks.Answered(call.id, call.kind, call.hazard_id, method, actor)], now)
    return call


async def get_call(session: AsyncSession, call_id: str) -> Call:
    call = await session.get(Call, call_id)
    if call is None:
        raise NotFound(f"No call has id {call_id!r}.")
    return call


async def get_call_by_token_hash(session: AsyncSession, token_hash: str) -> Call | None:
    return await session.scalar(
        select(Call).join(CallToken, CallToken.call_id == Call.id).where(CallToken.token_hash == token_hash)
    )


def feedback_closes_at(warning: Warning) -> datetime | None:
    """Feedback stays open until a week after the warning closes (None: still open)."""
    return warning.closed_at + FEEDBACK_WINDOW if warning.closed_at else None


def ensure_unsealed(warning: Warning, now: datetime) -> None:
    """410 once the warning's record is sealed, a week after it ended: its figures are final."""
    closes_at = feedback_closes_at(warning)
    if warning.sealed_at is not None or (closes_at is not None and now > closes_at):
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


@dataclass
class AckOutcome:
    """What became of one press of 收到."""

    result: str  # acknowledged | unknown | gone | closed
    status: str | None = None
    acknowledged_at: datetime | None = None


# The statements of a group of link answers (acknowledge_links), built once and run as Core on the
# session's connection: thousands of answers a second cannot each pay for building and caching an
# ORM statement. Calls are read and locked in one statement, in id order like lock_calls (the lock is
# a no-op on SQLite).
_calls, _tokens, _warnings, _regions = (
    cast(Table, model.__table__) for model in (Call, CallToken, Warning, WarningRegion)
)
_NOW: BindParameter[datetime] = bindparam("now")
_ANSWERING = (
    select(_calls.c.id, _tokens.c.token_hash, _calls.c.status, _calls.c.acknowledged_at, _calls.c.warning_id,
           _calls.c.hazard_id, _calls.c.kind, _calls.c.region_codes, _calls.c.contact_region_code,
           _calls.c.contact_name, _warnings.c.closed_at)
    .select_from(_tokens.join(_calls, _calls.c.id == _tokens.c.call_id)
                 .outerjoin(_warnings, _warnings.c.id == _calls.c.warning_id))
    .where(_tokens.c.token_hash.in_(bindparam("hashes", expanding=True)))
    .order_by(_calls.c.id)
    .with_for_update(of=_calls, key_share=True)
)  # fmt: skip
_ANSWER = (
    update(_calls)
    .where(_calls.c.id.in_(bindparam("ids", expanding=True)), _calls.c.status.in_(ANSWERABLE))
    .values(status="acknowledged", acknowledged_at=_NOW, ack_method="link", ack_by=_calls.c.contact_name,
            late=_calls.c.deadline_at < _NOW, next_attempt_at=None, closed_at=_NOW)
    .returning(_calls.c.id, _calls.c.late, _calls.c.created_at)
)  # fmt: skip
_REACH = (
    update(_regions)
    .where(tuple_(_regions.c.warning_id, _regions.c.region_code).in_(bindparam("pairs", expanding=True)),
           _regions.c.state != "reached")
    .values(state="reached", reached_at=_NOW, reached_by="link")
    .returning(_regions.c.warning_id, _regions.c.region_code)
)  # fmt: skip


async def acknowledge_links(
    session: AsyncSession, token_hashes: dict[str, str | None], *, now: datetime
) -> dict[str, AckOutcome]:
    """Acknowledge many calls by their tokens' hashes at once (see ack.batcher): a few set-based
    statements whatever the number, each answer recorded as if it had come alone, under the id of
    the request that brought it (the hashes map to their request ids)."""
    reports = (
        select(_calls.c.hazard_id)
        .select_from(_tokens.join(_calls, _calls.c.id == _tokens.c.call_id))
        .where(_tokens.c.token_hash.in_(list(token_hashes)), _calls.c.hazard_id.is_not(None))
    )
    await lock_reports(session, (await session.execute(reports)).scalars())
    rows = (await core_rows(session, _ANSWERING, {"hashes": list(token_hashes)})).all()
    outcomes = {token_hash: AckOutcome("unknown") for token_hash in token_hashes}
    requests = {row.id: token_hashes[row.token_hash] for row in rows}
    answerable = []
    for row in rows:
        if row.closed_at is not None and now > row.closed_at + FEEDBACK_WINDOW:
            outcomes[row.token_hash] = AckOutcome("gone", row.status)
        elif row.status in ANSWERABLE:
            answerable.append(row)
        elif row.status == "acknowledged":
            outcomes[row.token_hash] = AckOutcome("acknowledged", row.status, row.acknowledged_at)
        else:
            outcomes[row.token_hash] = AckOutcome("closed", row.status)
    if not answerable:
        return outcomes
    acknowledged = (await core_rows(session, _ANSWER, {"ids": [row.id for row in answerable], "now": now})).all()
    late: dict[str, bool] = {call_id: bool(is_late) for call_id, is_late, _ in acknowledged}
    for _, _, made_at in acknowledged:
        call_metrics.acknowledged("link", made_at, now)
    events: list[audit_service.Event] = []
    regions: dict[tuple[str, str], str] = {}  # (warning, region) -> the first call answering for it
    for row in answerable:
        if row.id not in late:  # answered or closed by another writer meanwhile: read it again
            current = await session.get_one(Call, row.id, populate_existing=True)
            outcomes[row.token_hash] = AckOutcome(
                "acknowledged" if current.status == "acknowledged" else "closed", current.status,
                current.acknowledged_at,
            )  # fmt: skip
            continue
        outcomes[row.token_hash] = AckOutcome("acknowledged", "acknowledged", now)
        events.append(
            audit_service.Event(type="call.acknowledged", actor=row.contact_name, warning_id=row.warning_id,
                                hazard_id=row.hazard_id, call_id=row.id, region_code=row.contact_region_code,
                                data={"method": "link", "late": bool(late[row.id])},
                                request_id=token_hashes[row.token_hash])
        )  # fmt: skip
        if row.kind == "alert" and row.warning_id is not None:
            for code in row.region_codes:
                regions.setdefault((row.warning_id, code), row.id)
    if regions:
        reached = (await core_rows(session, _REACH, {"pairs": sorted(regions), "now": now})).all()
        for warning_id, code in sorted(reached):
            events.append(
                audit_service.Event(type="region.reached", actor="link", warning_id=warning_id, region_code=code,
                                    call_id=regions[(warning_id, code)], data={"by": "link"},
                                    request_id=requests.get(regions[(warning_id, code)]))
            )  # fmt: skip
    await audit_service.record_warning_events(session, events, now=now)
    answered = [hooks.Answered(row.id, row.kind, row.hazard_id, "link", row.contact_name)
                for row in answerable if row.id in late]  # fmt: skip
    await hooks.answered(session, answered, now)
    return outcomes


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
    await lock_reports(session, hazard_ids)
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
