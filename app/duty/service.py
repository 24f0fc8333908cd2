"""The duty desk (值班值守), read: who is on duty at an office, its shifts, and the gaps in them.

What goes "to the county" at 03:00 goes to whoever is on duty then: call.routing asks
`desks_in_force` for the offices it routes to. A shift counts only while its officer is active and
still on that office's roster (a shift that does not count is a gap); in a gap the office's rank-1
contacts answer, and the console warns of the next gap within a day (`next_gaps`). Changing the
roster is in duty.roster, handovers in duty.handover.
"""

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import Principal
from app.contact.models import Contact
from app.db import chunks
from app.duty.models import DutyShift
from app.errors import Forbidden, Unprocessable
from app.region import service as region_service
from app.region.models import Region

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


def ensure_can_read(principal: Principal, region: Region) -> None:
    """Who is on duty is read inside one's subtree and up one's own chain (who is on duty above me)."""
    own = principal.region_path
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


def on_roster(contact: Contact | None, region_code: str) -> bool:
    """Whether a person may answer for an office: active, and on that office's own roster."""
    return contact is not None and contact.active and contact.region_code == region_code


def staffed(shift: DutyShift, people: dict[str, Contact]) -> bool:
    """A shift counts while its officer is active and still on that office's roster."""
    return on_roster(people.get(shift.officer_id), shift.region_code)


async def shifts_between(session: AsyncSession, region_code: str, start: datetime, end: datetime) -> list[DutyShift]:
    """The region's shifts that overlap [start, end), in time order."""
    query = (
        select(DutyShift)
        .where(DutyShift.region_code == region_code, DutyShift.ends_at > start, DutyShift.starts_at < end)
        .order_by(DutyShift.starts_at)
    )
    return list(await session.scalars(query))


async def roster_at(session: AsyncSession, region_code: str, at: datetime) -> tuple[DutyShift | None, list[DutyShift]]:
    """The shift in force at `at`, and the shifts after it (the next hundred)."""
    query = select(DutyShift).where(DutyShift.region_code == region_code, DutyShift.ends_at > at)
    shifts = list(await session.scalars(query.order_by(DutyShift.starts_at).limit(NEXT_SHIFTS + 1)))
    current = next((s for s in shifts if s.starts_at <= at), None)
    return current, [s for s in shifts if s is not current][:NEXT_SHIFTS]


async def keeps_roster(session: AsyncSession, region_code: str, at: datetime) -> bool:
    query = select(DutyShift.id).where(DutyShift.region_code == region_code, DutyShift.ends_at > at - KEEPS_ROSTER)
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


def _staffed_shifts() -> Any:
    """Shifts whose officer is active and on the office's own roster, as (region, start, end)."""
    officer = and_(
        Contact.id == DutyShift.officer_id, Contact.active.is_(True), Contact.region_code == DutyShift.region_code
    )
    return select(DutyShift.region_code, DutyShift.starts_at, DutyShift.ends_at).join(Contact, officer)


async def first_gaps(
    session: AsyncSession, offices: ColumnElement[bool], at: datetime, within: timedelta = HORIZON
) -> dict[str, Gap]:
    """For the offices `offices` selects (a condition on DutyShift.region_code) that keep a roster,
    the first stretch within `within` of `at` when nobody is on duty: two queries for them all."""
    keeping = select(DutyShift.region_code).where(offices, DutyShift.ends_at > at - KEEPS_ROSTER).distinct()
    codes = set((await session.execute(keeping)).scalars())
    spans: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    window = _staffed_shifts().where(offices, DutyShift.ends_at > at, DutyShift.starts_at < at + within)
    for code, starts_at, ends_at in (await session.execute(window)).tuples():
        spans[code].append((starts_at, ends_at))
    found = {code: first[0] for code in codes if (first := gaps(spans[code], at, at + within))}
    still_open = sorted(code for code, gap in found.items() if gap.ends_at is None)
    for chunk in chunks(still_open):  # open at the horizon: until the next staffed shift, if any
        subquery = _staffed_shifts().where(DutyShift.region_code.in_(chunk), DutyShift.starts_at >= at).subquery()
        nexts = select(subquery.c.region_code, func.min(subquery.c.starts_at)).group_by(subquery.c.region_code)
        for code, starts_at in (await session.execute(nexts)).tuples():
            found[code] = Gap(found[code].starts_at, starts_at)
    return found


async def first_gap(session: AsyncSession, region_code: str, at: datetime) -> Gap | None:
    """The first stretch within a day of `at` when nobody is on duty at an office that keeps a roster."""
    return (await first_gaps(session, DutyShift.region_code == region_code, at)).get(region_code)


async def next_gaps(
    session: AsyncSession, *, within_path: str | None, now: datetime, limit: int = 50
) -> tuple[list[tuple[Region, Gap]], int]:
    """Offices in a subtree that keep a roster with a gap within a day, soonest first (at most
    `limit` of them), and how many offices have one."""
    offices: ColumnElement[bool] = DutyShift.region_code.is_not(None)
    if within_path is not None:
        inside = select(Region.code).where(region_service.subtree_filter(Region.path, within_path))
        offices = DutyShift.region_code.in_(inside)
    found = await first_gaps(session, offices, now)
    soonest = sorted(found, key=lambda code: (found[code].starts_at, code))[:limit]
    regions = {r.code: r for r in await session.scalars(select(Region).where(Region.code.in_(soonest)))}
    return [(regions[code], found[code]) for code in soonest if code in regions], len(found)


# Routing


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
    people = await get_shift_people(session, shifts)
    desks: dict[str, Desk | None] = dict.fromkeys(keeping)
    for shift in shifts:
        if not staffed(shift, people):
            continue
        leader = people.get(shift.leader_id or "")
        desks[shift.region_code] = Desk(
            shift.id,
            _person(people[shift.officer_id]),
            _person(leader) if leader is not None and on_roster(leader, shift.region_code) else None,
        )
    return desks


def _person(contact: Contact) -> dict[str, Any]:
    return {name: getattr(contact, name) for name in PERSON}


async def office_contacts(session: AsyncSession, region_code: str) -> list[Contact]:
    """The active people on an office's own roster, who may take its shifts."""
    query = select(Contact).where(Contact.region_code == region_code, Contact.active.is_(True))
    return list(await session.scalars(query.order_by(Contact.rank, Contact.name, Contact.id).limit(500)))
