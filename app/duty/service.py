"""The duty desk (值班值守), read: who is on duty at an office, its shifts, and the gaps in them.

What goes "to the county" at 03:00 goes to whoever is on duty then: call.routing asks
`desks_in_force` for the offices it routes to. A shift counts only while its officer is active and
still on that office's roster (a shift that does not count is a gap); in a gap the office's rank-1
contacts answer, and the console warns of the next gap within a day (`next_gaps`). Changing the
roster is in duty.roster, handovers in duty.handover.

A county's department may keep a roster too (`Roster` with a department): its officer on shift is
whom a township's whistle calls to report in (报到), its own contacts of the lowest rank in a gap.
"""

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import Principal
from app.db import chunks
from app.errors import Forbidden, NotFound, Unprocessable
from app.models.contact import Contact
from app.models.department import Department
from app.models.duty import DutyShift
from app.models.region import Region, codes_within
from app.region import service as region_service

# Offices that keep a duty roster: every level with an office, villages aside (a prefecture such as
# 东莞, whose townships sit right under it, plays the county's part).
DESK_LEVELS = ("province", "prefecture", "county", "township")
# A region that had a shift this recently, or has one to come, keeps a roster: a gap in it is news.
KEEPS_ROSTER = timedelta(days=7)
HORIZON = timedelta(hours=24)  # how far ahead the console looks for the next gap
NEXT_SHIFTS = 100  # shifts listed after the one in force
PERSON = ("id", "name", "phone", "region_code", "role", "rank", "channels")


@dataclass(frozen=True)
class Desk:
    """Who answers for an office now: the shift's officer and, for what is most urgent, its leader."""

    shift_id: str
    officer: dict[str, Any]
    leader: dict[str, Any] | None


@dataclass(frozen=True)
class Roster:
    """Whose shifts: an office's (a region that keeps a duty desk), or a county department's."""

    region: Region  # the office; for a department, its county (whose duty officers keep its roster)
    department: Department | None = None

    @property
    def name(self) -> str:
        return self.department.name if self.department else self.region.name

    @property
    def shifts(self) -> ColumnElement[bool]:
        """A condition on DutyShift selecting this roster's shifts."""
        if self.department is not None:
            return DutyShift.department_id == self.department.id
        return DutyShift.region_code == self.region.code

    def columns(self) -> dict[str, str | None]:
        """A new shift's columns naming this roster."""
        if self.department is not None:
            return {"region_code": None, "department_id": self.department.id}
        return {"region_code": self.region.code, "department_id": None}

    def holds(self, contact: Contact) -> bool:
        """Whether a person is on this roster's own list (who may take its shifts)."""
        if self.department is not None:
            return contact.department_id == self.department.id
        return contact.region_code == self.region.code


@dataclass(frozen=True)
class Gap:
    starts_at: datetime
    ends_at: datetime | None  # None: no staffed shift after it on record


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


async def department_roster(session: AsyncSession, department_id: str) -> Roster:
    """A county department's roster: 404 for an unknown department."""
    department = await session.get(Department, department_id)
    if department is None:
        raise NotFound(f"No department has id {department_id!r}.")
    return Roster(await region_service.get_region(session, department.region_code), department)


def ensure_can_read(principal: Principal, region: Region) -> None:
    """Who is on duty is read inside one's subtree and up one's own chain (who is on duty above me)."""
    own = principal.within
    if principal.covers(region.path) or (own is not None and own.startswith(region.path)):
        return
    raise Forbidden(f"Region {region.code} is neither inside nor above the region your key is limited to.")


def ensure_covers(principal: Principal, region: Region) -> None:
    """An office's handovers (what is open there) are read by those whose subtree holds it."""
    if not principal.covers(region.path):
        raise Forbidden(f"Region {region.code} is outside the region your key is limited to ({principal.region_code}).")


def ensure_can_edit(principal: Principal, region: Region) -> None:
    """An office's roster is kept by an admin or a duty officer whose subtree holds it."""
    if principal.role not in ("admin", "duty_officer"):
        raise Forbidden(f"This needs a key with role duty_officer or admin; yours is {principal.role}.")
    ensure_covers(principal, region)


# Shifts


async def contacts_by_id(session: AsyncSession, ids: Iterable[str | None]) -> dict[str, Contact]:
    found: dict[str, Contact] = {}
    for chunk in chunks(sorted({i for i in ids if i})):
        found.update((c.id, c) for c in await session.scalars(select(Contact).where(Contact.id.in_(chunk))))
    return found


async def get_shift_people(session: AsyncSession, shifts: Iterable[DutyShift]) -> dict[str, Contact]:
    """The officers and leaders of some shifts, by id."""
    return await contacts_by_id(session, (i for s in shifts for i in (s.officer_id, s.leader_id)))


def on_roster(contact: Contact | None, shift: DutyShift) -> bool:
    """Whether a person may answer for a shift: active, and on its office's (or department's) own roster."""
    if contact is None or not contact.active:
        return False
    if shift.department_id is not None:
        return contact.department_id == shift.department_id
    return contact.region_code == shift.region_code


def staffed(shift: DutyShift, people: dict[str, Contact]) -> bool:
    """A shift counts while its officer is active and still on that office's roster."""
    return on_roster(people.get(shift.officer_id), shift)


async def shifts_between(session: AsyncSession, region_code: str, start: datetime, end: datetime) -> list[DutyShift]:
    """The region's shifts that overlap [start, end), in time order."""
    query = (
        select(DutyShift)
        .where(DutyShift.region_code == region_code, DutyShift.ends_at > start, DutyShift.starts_at < end)
        .order_by(DutyShift.starts_at)
    )
    return list(await session.scalars(query))


async def roster_at(session: AsyncSession, roster: Roster, at: datetime) -> tuple[DutyShift | None, list[DutyShift]]:
    """The shift in force at `at`, and the shifts after it (the next hundred)."""
    query = select(DutyShift).where(roster.shifts, DutyShift.ends_at > at)
    shifts = list(await session.scalars(query.order_by(DutyShift.starts_at).limit(NEXT_SHIFTS + 1)))
    current = next((s for s in shifts if s.starts_at <= at), None)
    return current, [s for s in shifts if s is not current][:NEXT_SHIFTS]


async def keeps_roster(session: AsyncSession, roster: Roster, at: datetime) -> bool:
    query = select(DutyShift.id).where(roster.shifts, DutyShift.ends_at > at - KEEPS_ROSTER)
    return await session.scalar(query.limit(1)) is not None


# Gaps


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


def _staffed_shifts(key: Any) -> Any:
    """Shifts whose officer is active and on the roster's own list, as (key, start, end)."""
    own_list = or_(
        and_(DutyShift.department_id.is_(None), Contact.region_code == DutyShift.region_code),
        Contact.department_id == DutyShift.department_id,
    )
    officer = and_(Contact.id == DutyShift.officer_id, Contact.active.is_(True), own_list)
    return select(key, DutyShift.starts_at, DutyShift.ends_at).join(Contact, officer)


async def first_gaps(
    session: AsyncSession, offices: ColumnElement[bool], at: datetime, within: timedelta = HORIZON,
    *, key: Any = DutyShift.region_code,
) -> dict[str, Gap]:  # fmt: skip
    """For the rosters `offices` selects (a condition on DutyShift.region_code, or on `key`) that
    are kept, the first stretch within `within` of `at` when nobody is on duty: two queries for them
    all, by the roster's key (an office's region code, or a department's id)."""
    keeping = select(key).where(offices, DutyShift.ends_at > at - KEEPS_ROSTER).distinct()
    codes = set((await session.execute(keeping)).scalars())
    spans: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    window = _staffed_shifts(key).where(offices, DutyShift.ends_at > at, DutyShift.starts_at < at + within)
    for code, starts_at, ends_at in (await session.execute(window)).tuples():
        spans[code].append((starts_at, ends_at))
    found = {code: first[0] for code in codes if (first := gaps(spans[code], at, at + within))}
    still_open = sorted(code for code, gap in found.items() if gap.ends_at is None)
    for chunk in chunks(still_open):  # open at the horizon: until the next staffed shift, if any
        subquery = _staffed_shifts(key.label("key")).where(key.in_(chunk), DutyShift.starts_at >= at).subquery()
        nexts = select(subquery.c.key, func.min(subquery.c.starts_at)).group_by(subquery.c.key)
        for code, starts_at in (await session.execute(nexts)).tuples():
            found[code] = Gap(found[code].starts_at, starts_at)
    return found


async def first_gap(session: AsyncSession, roster: Roster, at: datetime) -> Gap | None:
    """The first stretch within a day of `at` when nobody is on duty, if the roster is kept."""
    key = DutyShift.department_id if roster.department else DutyShift.region_code
    found = await first_gaps(session, roster.shifts, at, key=key)
    return found.get(roster.department.id if roster.department else roster.region.code)


async def next_gaps(
    session: AsyncSession, *, within_path: str | None, now: datetime, limit: int = 50
) -> tuple[list[tuple[Region, Gap]], int]:
    """Offices in a subtree that keep a roster with a gap within a day, soonest first (at most
    `limit` of them), and how many offices have one."""
    offices: ColumnElement[bool] = DutyShift.region_code.is_not(None)
    if within_path is not None:
        inside = codes_within(within_path)
        offices = DutyShift.region_code.in_(inside)
    found = await first_gaps(session, offices, now)
    soonest = sorted(found, key=lambda code: (found[code].starts_at, code))[:limit]
    regions = {r.code: r for r in await session.scalars(select(Region).where(Region.code.in_(soonest)))}
    return [(regions[code], found[code]) for code in soonest if code in regions], len(found)


# Routing


async def desks_in_force(
    session: AsyncSession, codes: Collection[str], now: datetime, *, departments: bool = False
) -> dict[str, Desk | None]:
    """For each office among `codes` (or each department among them, by id) that keeps a roster:
    who is on duty at `now`, or None in a gap (its rank-1 contacts answer then). Those without a
    roster are left out."""
    key = DutyShift.department_id if departments else DutyShift.region_code
    shifts: list[DutyShift] = []
    keeping: set[str] = set()
    for chunk in chunks(sorted(codes)):
        in_chunk = key.in_(chunk)
        shifts += await session.scalars(
            select(DutyShift).where(in_chunk, DutyShift.starts_at <= now, DutyShift.ends_at > now)
        )
        recent = select(key).where(in_chunk, DutyShift.ends_at > now - KEEPS_ROSTER).distinct()
        keeping.update(code for code in (await session.execute(recent)).scalars() if code is not None)
    people = await get_shift_people(session, shifts)
    desks: dict[str, Desk | None] = dict.fromkeys(keeping)
    for shift in shifts:
        if not staffed(shift, people):
            continue
        leader = people.get(shift.leader_id or "")
        desks[str(shift.department_id if departments else shift.region_code)] = Desk(
            shift.id,
            _person(people[shift.officer_id]),
            _person(leader) if leader is not None and on_roster(leader, shift) else None,
        )
    return desks


def _person(contact: Contact) -> dict[str, Any]:
    return {name: getattr(contact, name) for name in PERSON}


async def office_contacts(session: AsyncSession, region_code: str) -> list[Contact]:
    """The active people on an office's own roster, who may take its shifts."""
    query = select(Contact).where(Contact.region_code == region_code, Contact.active.is_(True))
    return list(await session.scalars(query.order_by(Contact.rank, Contact.name, Contact.id).limit(500)))
