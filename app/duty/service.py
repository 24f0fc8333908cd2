"""The duty desk (值班值守): a region's roster of shifts, the shift in force, the gaps, and handovers.

What goes "to the county" at 03:00 goes to whoever is on duty then: call.escalation asks
`desks_in_force` for the offices it routes to. A shift counts only while its officer is active and
still on that office's roster; a stretch without one (a gap) falls back to the office's rank-1
contacts, and the console warns of the next gap within a day (`next_gaps`).
"""

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, column, delete, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.auth.service import Principal
from app.contact.models import Contact
from app.db import JSONDoc, UTCDateTime, chunks, new_id
from app.duty.models import DutyHandover, DutyShift
from app.duty.schemas import ShiftIn
from app.errors import Conflict, Forbidden, Unprocessable
from app.region import service as region_service
from app.region.models import Region

# Offices that keep a duty roster: every level with an office, villages aside.
DESK_LEVELS = ("province", "prefecture", "county", "township")
LONGEST_SHIFT = timedelta(days=31)  # longer is a typing slip (a month or a year off)
# A region that had a shift this recently, or has one to come, keeps a roster: a gap in it is news.
KEEPS_ROSTER = timedelta(days=7)
HORIZON = timedelta(hours=24)  # how far ahead the console looks for the next gap
PERSON = ("id", "name", "phone", "region_code", "role", "rank", "channels")
# The calls a handover lists, read as plain tables: the duty desk sits below the engine that writes them.
_calls = table(
    "calls", column("id"), column("warning_id"), column("kind"), column("status"), column("contact_id"),
    column("about_region_codes", JSONDoc), column("deadline_at", UTCDateTime()), column("created_at"),
)  # fmt: skip
_warnings = table("warnings", column("id"), column("title"), column("level"))


@dataclass(frozen=True)
class Desk:
    """Who answers for an office now: the shift's officer and, for what is most urgent, its leader."""

    shift_id: str
    officer: dict[str, Any]
    leader: dict[str, Any] | None


@dataclass(frozen=True)
class Gap:
    starts_at: datetime
    ends_at: datetime | None  # None: no shift after it on record


async def get_desk(session: AsyncSession, raw_code: str) -> Region:
    """The region of an office that keeps a roster: 404 if unknown, 422 for a village."""
    region = await region_service.get_region(session, raw_code)
    if region.level not in DESK_LEVELS:
        raise Unprocessable(
            f"{region.name} ({region.code}) is a {region.level}; duty rosters are kept by the offices of "
            "counties and townships (and the levels above).",
            errors=[{"loc": ["path", "region_code"], "msg": f"a {region.level} keeps no duty roster"}],
        )
    return region


def ensure_can_read(principal: Principal, region: Region) -> None:
    """A roster is read inside one's subtree and up one's own chain (who is on duty above me)."""
    own = principal.region_path
    if own is None or region.path.startswith(own) or own.startswith(region.path):
        return
    raise Forbidden(f"Region {region.code} is neither inside nor above the region your key is limited to.")


def ensure_can_edit(principal: Principal, region: Region) -> None:
    """An office's roster is kept by an admin or a duty officer whose subtree holds it."""
    if principal.role not in ("admin", "duty_officer"):
        raise Forbidden(f"This needs a key with role duty_officer or admin; yours is {principal.role}.")
    if not principal.covers(region.path):
        raise Forbidden(f"Region {region.code} is outside the region your key is limited to ({principal.region_code}).")


# Reading shifts


async def contacts_by_id(session: AsyncSession, ids: Iterable[str]) -> dict[str, Contact]:
    found: dict[str, Contact] = {}
    for chunk in chunks(sorted({i for i in ids if i})):
        found.update((c.id, c) for c in await session.scalars(select(Contact).where(Contact.id.in_(chunk))))
    return found


async def shifts_between(session: AsyncSession, region_code: str, start: datetime, end: datetime) -> list[DutyShift]:
    """The region's shifts that overlap [start, end), in time order."""
    query = (
        select(DutyShift)
        .where(DutyShift.region_code == region_code, DutyShift.ends_at > start, DutyShift.starts_at < end)
        .order_by(DutyShift.starts_at)
    )
    return list(await session.scalars(query))


async def roster_at(session: AsyncSession, region_code: str, at: datetime) -> tuple[DutyShift | None, list[DutyShift]]:
    """The shift in force at `at`, and every shift after it."""
    query = select(DutyShift).where(DutyShift.region_code == region_code, DutyShift.ends_at > at)
    shifts = list(await session.scalars(query.order_by(DutyShift.starts_at)))
    current = next((s for s in shifts if s.starts_at <= at), None)
    return current, [s for s in shifts if s is not current]


async def keeps_roster(session: AsyncSession, region_code: str, at: datetime) -> bool:
    query = select(DutyShift.id).where(DutyShift.region_code == region_code, DutyShift.ends_at > at - KEEPS_ROSTER)
    return await session.scalar(query.limit(1)) is not None


def gaps(shifts: Sequence[tuple[datetime, datetime]], start: datetime, end: datetime) -> list[Gap]:
    """The stretches of [start, end) no shift covers; the last is open-ended when nothing follows it."""
    found: list[Gap] = []
    covered_to = start
    for starts_at, ends_at in sorted(shifts):
        if starts_at > covered_to and covered_to < end:
            found.append(Gap(covered_to, starts_at))
        covered_to = max(covered_to, ends_at)
    if covered_to < end:
        found.append(Gap(covered_to, None))
    return found


def staffed(shift: DutyShift, people: dict[str, Contact]) -> bool:
    """A shift counts while its officer is active and still on that office's roster."""
    officer = people.get(shift.officer_id)
    return officer is not None and officer.active and officer.region_code == shift.region_code


async def first_gap(session: AsyncSession, region_code: str, at: datetime, within: timedelta = HORIZON) -> Gap | None:
    """The first stretch within `within` of `at` when nobody is on duty at the office."""
    shifts = await shifts_between(session, region_code, at, at + within)
    people = await contacts_by_id(session, (s.officer_id for s in shifts))
    found = gaps([(s.starts_at, s.ends_at) for s in shifts if staffed(s, people)], at, at + within)
    if not found:
        return None
    gap = found[0]
    if gap.ends_at is None:  # open at the horizon: until the next staffed shift, if any
        later = select(DutyShift).where(DutyShift.region_code == region_code, DutyShift.starts_at >= gap.starts_at)
        after = [s for s in await session.scalars(later.order_by(DutyShift.starts_at).limit(50))]
        people = await contacts_by_id(session, (s.officer_id for s in after))
        following = next((s for s in after if staffed(s, people)), None)
        gap = Gap(gap.starts_at, following.starts_at if following else None)
    return gap


async def next_gaps(
    session: AsyncSession, *, within_path: str | None, now: datetime, limit: int = 50
) -> list[tuple[Region, Gap]]:
    """Offices in a subtree that keep a roster, with the first gap in it within a day, soonest first."""
    keeping = select(DutyShift.region_code).where(DutyShift.ends_at > now - KEEPS_ROSTER).distinct()
    query = select(Region).where(Region.code.in_(keeping))
    if within_path is not None:
        query = query.where(region_service.subtree_filter(Region.path, within_path))
    found = []
    for region in await session.scalars(query.order_by(Region.code).limit(1000)):
        gap = await first_gap(session, region.code, now)
        if gap is not None:
            found.append((region, gap))
    return sorted(found, key=lambda pair: (pair[1].starts_at, pair[0].code))[:limit]


async def desks_in_force(session: AsyncSession, codes: Collection[str], now: datetime) -> dict[str, Desk | None]:
    """For each office among `codes` that keeps a roster: who is on duty at `now`, or None in a gap
    (its rank-1 contacts answer then). Offices without a roster are left out."""
    shifts: list[DutyShift] = []
    keeping: set[str] = set()
    for chunk in chunks(sorted(codes)):
        in_chunk = DutyShift.region_code.in_(chunk)
        shifts += await session.scalars(
            select(DutyShift).where(in_chunk, DutyShift.starts_at <= now, DutyShift.ends_at > now)
        )
        recent = select(DutyShift.region_code).where(in_chunk, DutyShift.ends_at > now - KEEPS_ROSTER).distinct()
        keeping.update((await session.execute(recent)).scalars())
    people = await contacts_by_id(session, (i for s in shifts for i in (s.officer_id, s.leader_id) if i))
    desks: dict[str, Desk | None] = dict.fromkeys(keeping)
    for shift in shifts:
        if not staffed(shift, people):
            continue
        leader = people.get(shift.leader_id or "")
        desks[shift.region_code] = Desk(
            shift.id,
            _person(people[shift.officer_id]),
            _person(leader) if leader is not None and leader.active else None,
        )
    return desks


def _person(contact: Contact) -> dict[str, Any]:
    return {name: getattr(contact, name) for name in PERSON}


# Changing the roster


def _snapshot(shift: DutyShift | ShiftIn, people: dict[str, Contact]) -> dict[str, Any]:
    def who(contact_id: str | None) -> dict[str, str] | None:
        contact = people.get(contact_id or "")
        return {"id": contact.id, "name": contact.name, "phone": contact.phone} if contact else None

    return {
        "id": getattr(shift, "id", None), "starts_at": shift.starts_at.isoformat(),
        "ends_at": shift.ends_at.isoformat(), "officer": who(shift.officer_id), "leader": who(shift.leader_id),
    }  # fmt: skip


def _mistake(line: int, field: str | None, kind: str, msg: str, **extra: Any) -> dict[str, Any]:
    """One mistake of a roster: where (its line, counting from 0), what kind (for the console's
    words), and a sentence."""
    loc: list[str | int] = ["body", "shifts", line, *([field] if field else [])]
    return {"loc": loc, "msg": msg, "type": kind, **extra}


def _check_shifts(
    region: Region, shifts: list[ShiftIn], people: dict[str, Contact], history: list[DutyShift], now: datetime
) -> list[dict[str, Any]]:
    """Every mistake of the roster, each with the line it is on; a clash names both lines."""
    errors: list[dict[str, Any]] = []
    for i, shift in enumerate(shifts):
        if shift.ends_at <= shift.starts_at:
            errors.append(_mistake(i, "ends_at", "order", "the shift ends before it starts"))
        elif shift.ends_at - shift.starts_at > LONGEST_SHIFT:
            errors.append(_mistake(i, "ends_at", "too_long", "a shift lasts at most 31 days"))
        if shift.ends_at <= now:
            errors.append(_mistake(i, "ends_at", "ended", "the shift has already ended"))
        for field, contact_id in (("officer_id", shift.officer_id), ("leader_id", shift.leader_id)):
            contact = people.get(contact_id) if contact_id else None
            if contact_id and (contact is None or not contact.active):
                errors.append(_mistake(i, field, "unknown_contact", f"no active contact has id {contact_id}"))
            elif contact is not None and contact.region_code != region.code:
                where = f"{contact.name} is on the roster of {contact.region_code}, not of {region.code}"
                errors.append(_mistake(i, field, "other_office", where))
    order = sorted(range(len(shifts)), key=lambda i: shifts[i].starts_at)
    for position, i in enumerate(order):
        for j in order[position + 1 :]:
            if shifts[j].starts_at >= shifts[i].ends_at:
                break
            for one, other in ((i, j), (j, i)):
                clash = f"overlaps shift {other} ({_span(shifts[other])})"
                errors.append(_mistake(one, None, "overlap", clash, **{"with": other}))
        for past in history:
            if past.starts_at < shifts[i].ends_at and shifts[i].starts_at < past.ends_at:
                errors.append(_mistake(i, None, "overlaps_history", f"overlaps a shift already ended ({_span(past)})"))
    return errors


def _span(shift: DutyShift | ShiftIn) -> str:
    return f"{shift.starts_at.isoformat()} to {shift.ends_at.isoformat()}"


async def replace_roster(
    session: AsyncSession, region: Region, shifts: list[ShiftIn], *, principal: Principal, now: datetime
) -> list[DutyShift]:
    """Replace every shift of the office that has not ended; a shift sent again (same start and
    officer) keeps its id. All or nothing: 422 naming every line that is wrong or clashes."""
    ensure_can_edit(principal, region)
    # The region's row lock queues two editors of one roster, so no overlap slips in between.
    await session.execute(select(Region.code).where(Region.code == region.code).with_for_update())
    existing = list(
        await session.scalars(select(DutyShift).where(DutyShift.region_code == region.code, DutyShift.ends_at > now))
    )
    earliest = min((s.starts_at for s in shifts), default=now)
    history = list(
        await session.scalars(
            select(DutyShift).where(
                DutyShift.region_code == region.code, DutyShift.ends_at <= now, DutyShift.ends_at > earliest
            )
        )
    )
    wanted = [(s.officer_id, s.leader_id) for s in shifts] + [(s.officer_id, s.leader_id) for s in existing]
    people = await contacts_by_id(session, [i for pair in wanted for i in pair if i is not None])
    errors = _check_shifts(region, shifts, people, history, now)
    if errors:
        lines = sorted({e["loc"][2] for e in errors})
        raise Unprocessable(
            f"The roster of {region.name} was not changed: {len(lines)} shift(s) are wrong or clash with "
            f"another (lines {', '.join(map(str, lines))}, counting from 0).",
            errors=errors,
        )
    before = [_snapshot(s, people) for s in sorted(existing, key=lambda s: s.starts_at)]
    kept = {(s.starts_at, s.officer_id): s for s in existing}
    result: list[DutyShift] = []
    for shift in sorted(shifts, key=lambda s: s.starts_at):
        same = kept.pop((shift.starts_at, shift.officer_id), None)
        if same is None:
            same = DutyShift(id=new_id(), region_code=region.code, starts_at=shift.starts_at,
                             officer_id=shift.officer_id, created_at=now, created_by=principal.name)  # fmt: skip
            session.add(same)
        same.ends_at, same.leader_id = shift.ends_at, shift.leader_id
        result.append(same)
    if kept:
        await session.execute(delete(DutyShift).where(DutyShift.id.in_([s.id for s in kept.values()])))
    await session.flush()
    after = [_snapshot(s, people) for s in result]
    if before != after:
        event = audit_service.Event(
            type="duty.changed", actor=principal.name, region_code=region.code,
            data={"region_code": region.code, "before": before, "after": after},
        )  # fmt: skip
        await audit_service.record_event(session, event, now=now)
    return result


# Handovers


def _sides(
    current: DutyShift | None, previous: DutyShift | None, upcoming: list[DutyShift], now: datetime
) -> tuple[DutyShift | None, DutyShift | None]:
    """(outgoing, incoming) shifts of a handover written at `now`: in the first half of a shift that
    follows another directly, the one just ended hands over to it; otherwise the shift in force (or,
    between shifts, the last one) hands over to the next."""
    if current is not None:
        just_began = now - current.starts_at < current.ends_at - now
        if just_began and previous is not None and previous.ends_at >= current.starts_at:
            return previous, current
        return current, next((s for s in upcoming if s.starts_at >= current.ends_at), None)
    return previous, upcoming[0] if upcoming else None


async def _open_calls(session: AsyncSession, contact_id: str) -> list[dict[str, Any]]:
    """The escalation and hazard calls still open in one person's hands, oldest first."""
    query = (
        select(_calls.c.id, _calls.c.warning_id, _calls.c.kind, _calls.c.status, _calls.c.about_region_codes,
               _calls.c.deadline_at, _warnings.c.title, _warnings.c.level)
        .select_from(_calls.outerjoin(_warnings, _warnings.c.id == _calls.c.warning_id))
        .where(_calls.c.contact_id == contact_id, _calls.c.kind != "alert",
               _calls.c.status.in_(("pending", "notified")))
        .order_by(_calls.c.created_at, _calls.c.id)
    )  # fmt: skip
    rows = (await session.execute(query)).all()
    return [
        {"call_id": row.id, "kind": row.kind, "status": row.status, "warning_id": row.warning_id,
         "title": row.title, "level": row.level, "about_region_codes": list(row.about_region_codes or []),
         "deadline_at": row.deadline_at.isoformat()}
        for row in rows
    ]  # fmt: skip


async def record_handover(
    session: AsyncSession, region: Region, note: str, *, principal: Principal, now: datetime
) -> DutyHandover:
    """Record a handover (交接班) on the record: the note, and the outgoing officer's open calls."""
    ensure_can_edit(principal, region)
    current, upcoming = await roster_at(session, region.code, now)
    previous = await session.scalar(
        select(DutyShift)
        .where(DutyShift.region_code == region.code, DutyShift.ends_at <= now)
        .order_by(DutyShift.ends_at.desc())
        .limit(1)
    )
    outgoing, incoming = _sides(current, previous, upcoming, now)
    if outgoing is None:
        raise Conflict(
            f"{region.name} has no shift on record to hand over from; set its roster first "
            f"(PUT /api/v1/duty/{region.code})."
        )
    people = await contacts_by_id(session, [s.officer_id for s in (outgoing, incoming) if s is not None])
    handover = DutyHandover(
        id=new_id(), region_code=region.code, at=now, from_shift_id=outgoing.id,
        from_officer=_who(people.get(outgoing.officer_id)),
        to_shift_id=incoming.id if incoming else None,
        to_officer=_who(people.get(incoming.officer_id)) if incoming else None,
        note=note, open_calls=await _open_calls(session, outgoing.officer_id), actor=principal.name,
    )  # fmt: skip
    session.add(handover)
    await session.flush()
    event = audit_service.Event(
        type="duty.handover", actor=principal.name, region_code=region.code,
        data={"handover_id": handover.id, "from_shift_id": handover.from_shift_id, "from": handover.from_officer,
              "to_shift_id": handover.to_shift_id, "to": handover.to_officer, "note": note,
              "open_calls": handover.open_calls},
    )  # fmt: skip
    await audit_service.record_event(session, event, now=now)
    return handover


def _who(contact: Contact | None) -> dict[str, str] | None:
    return {"id": contact.id, "name": contact.name, "phone": contact.phone} if contact else None


async def list_handovers(
    session: AsyncSession, region_code: str, *, limit: int, cursor: str | None = None
) -> list[DutyHandover]:
    """An office's handovers, newest first."""
    query = select(DutyHandover).where(DutyHandover.region_code == region_code)
    if cursor:
        query = query.where(DutyHandover.id < cursor)
    return list(await session.scalars(query.order_by(DutyHandover.id.desc()).limit(limit)))


async def office_contacts(session: AsyncSession, region_code: str) -> list[Contact]:
    """The active people on an office's own roster, who may take its shifts."""
    query = select(Contact).where(and_(Contact.region_code == region_code, Contact.active.is_(True)))
    return list(await session.scalars(query.order_by(Contact.rank, Contact.name, Contact.id).limit(500)))


async def get_shift_people(session: AsyncSession, shifts: Iterable[DutyShift]) -> dict[str, Contact]:
    """The officers and leaders of some shifts, by id."""
    return await contacts_by_id(session, (i for s in shifts for i in (s.officer_id, s.leader_id) if i))
