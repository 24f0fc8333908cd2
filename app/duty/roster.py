"""Changing an office's (or a county department's) roster: every shift that has not ended,
replaced at once.

The past stays as it was: a shift that has ended is never changed; the shift in force keeps its
start (sent again with the same start and officer, it takes the new end, or ends now), and when it
is left out it ends now rather than vanishing, so who was on duty until now stays on the record. A
new shift may begin in the past only where nobody was on duty, and by a day at most (a night shift
entered after it began). Shifts of one roster never overlap: checked under the office's (or the
department's) row lock.
"""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.auth.service import Principal
from app.duty import service as duty_service
from app.duty.schemas import ShiftIn
from app.duty.service import Roster
from app.errors import Unprocessable
from app.ids import new_id
from app.models.contact import Contact
from app.models.department import Department
from app.models.duty import DutyShift
from app.models.region import Region

LONGEST_SHIFT = timedelta(days=31)  # longer is a typing slip (a month or a year off)
EARLIEST_START = timedelta(hours=24)  # how far back a new shift may begin
MAX_ERRORS = 100  # a refusal names this many mistakes at most


def _mistake(line: int, field: str | None, kind: str, msg: str, **extra: Any) -> dict[str, Any]:
    """One mistake of a roster: its line (counting from 0), its kind (for the console's words) and a
    sentence."""
    loc: list[str | int] = ["body", "shifts", line, *([field] if field else [])]
    return {"loc": loc, "msg": msg, "type": kind, **extra}


def _span(shift: DutyShift | ShiftIn) -> str:
    return f"{shift.starts_at.isoformat()} to {shift.ends_at.isoformat()}"


def _line_mistakes(
    i: int, shift: ShiftIn, roster: Roster, people: dict[str, Contact], now: datetime, *, in_force: bool
) -> list[dict[str, Any]]:
    """The mistakes of one line on its own: its times and its people."""
    found = []
    if shift.ends_at <= shift.starts_at:
        found.append(_mistake(i, "ends_at", "order", "the shift ends before it starts"))
    elif shift.ends_at - shift.starts_at > LONGEST_SHIFT:
        found.append(_mistake(i, "ends_at", "too_long", "a shift lasts at most 31 days"))
    if not in_force and shift.ends_at <= now:
        found.append(_mistake(i, "ends_at", "ended", "the shift has already ended"))
    elif not in_force and shift.starts_at < now - EARLIEST_START:
        found.append(_mistake(i, "starts_at", "too_early", "a new shift begins a day ago at the earliest"))
    for field, contact_id in (("officer_id", shift.officer_id), ("leader_id", shift.leader_id)):
        contact = people.get(contact_id) if contact_id else None
        if contact_id and (contact is None or not contact.active):
            found.append(_mistake(i, field, "unknown_contact", f"no active contact has id {contact_id}"))
        elif contact is not None and not roster.holds(contact):
            where = (
                f"{contact.name} is not one of {roster.name}'s people" if roster.department
                else f"{contact.name} is on the roster of {contact.region_code}, not of {roster.region.code}"
            )  # fmt: skip
            found.append(_mistake(i, field, "other_office", where))
    return found


def _clashes(
    shifts: list[ShiftIn], history: list[DutyShift], ending: DutyShift | None, now: datetime
) -> list[dict[str, Any]]:
    """Lines that overlap another line, a shift that has ended, or the shift in force left out
    (which ends now); each line named once, with the first it clashes with."""
    found: list[dict[str, Any]] = []
    named: set[int] = set()
    order = sorted(range(len(shifts)), key=lambda i: (shifts[i].starts_at, i))
    reach: int | None = None  # the line seen so far that ends last
    for i in order:
        if reach is not None and shifts[i].starts_at < shifts[reach].ends_at:
            for one, other in ((i, reach), (reach, i)):
                if one not in named:
                    named.add(one)
                    clash = f"overlaps shift {other} ({_span(shifts[other])})"
                    found.append(_mistake(one, None, "overlap", clash, **{"with": other}))
        if reach is None or shifts[i].ends_at > shifts[reach].ends_at:
            reach = i
    for i, shift in enumerate(shifts):
        past = next((p for p in history if p.starts_at < shift.ends_at and shift.starts_at < p.ends_at), None)
        if i in named:
            continue
        if past is not None:
            found.append(_mistake(i, None, "overlaps_history", f"overlaps a shift already ended ({_span(past)})"))
        elif ending is not None and shift.starts_at < now and shift.ends_at > ending.starts_at:
            clash = f"overlaps the shift in force since {ending.starts_at.isoformat()}, which ends now when left out"
            found.append(_mistake(i, "starts_at", "overlaps_in_force", clash))
    return found


def _snapshot(shift: DutyShift, people: dict[str, Contact]) -> dict[str, Any]:
    def who(contact_id: str | None) -> dict[str, str] | None:
        contact = people.get(contact_id or "")
        return {"id": contact.id, "name": contact.name, "phone": contact.phone} if contact else None

    return {
        "id": shift.id, "starts_at": shift.starts_at.isoformat(), "ends_at": shift.ends_at.isoformat(),
        "officer": who(shift.officer_id), "leader": who(shift.leader_id),
    }  # fmt: skip


async def replace_roster(
    session: AsyncSession, roster: Roster, shifts: list[ShiftIn], *, principal: Principal, now: datetime
) -> list[DutyShift]:
    """Replace every shift of the roster that has not ended (see the module); returns the shifts not
    ended after the change. All or nothing: 422 naming each line that is wrong or clashes."""
    region = roster.region
    duty_service.ensure_can_edit(principal, region)
    # The office's (or department's) row, locked as FOR NO KEY UPDATE: two editors of one roster
    # queue, while the roster's contacts (whose rows point at it) can still be written.
    if roster.department is not None:
        department = select(Department.id).where(Department.id == roster.department.id)
        await session.execute(department.with_for_update(key_share=True))
    else:
        await session.execute(select(Region.code).where(Region.code == region.code).with_for_update(key_share=True))
    existing = list(
        await session.scalars(
            select(DutyShift).where(roster.shifts, DutyShift.ends_at > now).order_by(DutyShift.starts_at)
        )
    )
    in_force = next((s for s in existing if s.starts_at <= now), None)
    again = next(
        (i for i, s in enumerate(shifts)
         if in_force and (s.starts_at, s.officer_id) == (in_force.starts_at, in_force.officer_id)),
        None,
    )  # fmt: skip
    earliest = min((s.starts_at for s in shifts), default=now)
    history = list(
        await session.scalars(
            select(DutyShift).where(roster.shifts, DutyShift.ends_at <= now, DutyShift.ends_at > earliest)
        )
    )
    named = [(s.officer_id, s.leader_id) for s in shifts] + [(s.officer_id, s.leader_id) for s in existing]
    people = await duty_service.contacts_by_id(session, [i for pair in named for i in pair])
    errors = [e for i, s in enumerate(shifts) for e in _line_mistakes(i, s, roster, people, now, in_force=i == again)]
    ending = in_force if in_force is not None and again is None and in_force.starts_at < now else None
    errors += _clashes(shifts, history, ending, now)
    if errors:
        lines = sorted({e["loc"][2] for e in errors})
        raise Unprocessable(
            f"The roster of {roster.name} was not changed: {len(lines)} line(s) are wrong or clash with another"
            f" (counting from 0: {', '.join(map(str, lines[:20]))}{'…' if len(lines) > 20 else ''}).",
            errors=sorted(errors, key=lambda e: e["loc"][2])[:MAX_ERRORS],
        )
    before = [_snapshot(s, people) for s in existing]
    await _apply(session, roster, shifts, existing, in_force, again, principal=principal, now=now)
    after_rows = list(
        await session.scalars(
            select(DutyShift).where(roster.shifts, DutyShift.ends_at > now).order_by(DutyShift.starts_at)
        )
    )
    after = [_snapshot(s, people) for s in after_rows]
    if before != after:
        data: dict[str, Any] = {"region_code": region.code, "before": before, "after": after}
        if roster.department is not None:
            data |= {"department_id": roster.department.id, "department": roster.department.name}
        if in_force is not None and in_force.ends_at <= now:
            data["ended_now"] = _snapshot(in_force, people)
        event = audit_service.Event(type="duty.changed", actor=principal.name, region_code=region.code, data=data)
        await audit_service.record_event(session, event, now=now)
    return after_rows


async def _apply(
    session: AsyncSession,
    roster: Roster,
    shifts: list[ShiftIn],
    existing: list[DutyShift],
    in_force: DutyShift | None,
    again: int | None,
    *,
    principal: Principal,
    now: datetime,
) -> None:
    """Write the checked roster: shifts sent again keep their rows, the shift in force left out ends
    now, the other shifts to come that were left out go."""
    upcoming = {(s.starts_at, s.officer_id): s for s in existing if s is not in_force}
    for i, shift in enumerate(shifts):
        if i == again and in_force is not None:
            in_force.ends_at, in_force.leader_id = max(shift.ends_at, now), shift.leader_id
            continue
        row = upcoming.pop((shift.starts_at, shift.officer_id), None)
        if row is None:
            row = DutyShift(id=new_id(), **roster.columns(), starts_at=shift.starts_at, officer_id=shift.officer_id,
                            created_at=now, created_by=principal.name)  # fmt: skip
            session.add(row)
        row.ends_at, row.leader_id = shift.ends_at, shift.leader_id
    if in_force is not None and again is None:
        if in_force.starts_at < now:
            in_force.ends_at = now  # ended now: who was on duty until now stays on the record
        else:
            upcoming[(in_force.starts_at, in_force.officer_id)] = in_force
    if upcoming:
        await session.execute(delete(DutyShift).where(DutyShift.id.in_([s.id for s in upcoming.values()])))
    await session.flush()
