"""Who is asked about a region nobody has answered for: the people who supervise it (包保), else
the nearest office above it with anyone to answer: its duty officer on shift (and the shift's
leader for what is most urgent), or, with nobody on duty, its rank-1 contacts."""

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import chunks
from app.duty import service as duty_service
from app.models.contact import Contact, Supervision
from app.models.region import LEVEL_RANK, Region

PERSON = duty_service.PERSON  # a person as a call is made to them
# Escalation goes no higher than this level unless the policy's escalate_above_county says so.
TOP_LEVEL = "county"


def why(contact: dict[str, Any]) -> dict[str, Any]:
    """Why this person was asked, for the record: `via` supervisor, duty_officer, duty_leader or
    rank_1 (with `duty_gap` when the office keeps a roster but nobody was on duty)."""
    return {key: contact[key] for key in ("via", "shift_id", "duty_gap") if key in contact}


async def recipients(
    session: AsyncSession,
    routes: set[str],
    *,
    above_county: bool,
    with_leader: bool,
    now: datetime,
    supervisors: bool = True,
) -> dict[str, list[dict[str, Any]]]:
    """For each route region: the active contacts who supervise it (unless not `supervisors`), else
    the nearest office above it with anyone to answer, within the allowed levels: its duty officer
    on shift at `now` (and the shift's leader too `with_leader`), or, with nobody on duty, its
    lowest-ranked active contacts."""
    columns = [getattr(Contact, name) for name in PERSON]
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    limit = LEVEL_RANK["province"] if above_county else LEVEL_RANK[TOP_LEVEL]
    # Supervisors sit above what they supervise (contact.service checks it), under the same ceiling.
    allowed_levels = [level for level, rank in LEVEL_RANK.items() if rank >= limit]
    supervising = await _by_chunks(
        session,
        routes if supervisors else set(),
        lambda chunk: (
            select(Supervision.region_code.label("route"), *columns)
            .join(Contact, Contact.id == Supervision.contact_id)
            .join(Region, Region.code == Contact.region_code)
            .where(Supervision.region_code.in_(chunk), Contact.active.is_(True), Region.level.in_(allowed_levels))
            .order_by(Contact.id)
        ),
    )
    for row in supervising:
        found[row.route].append({**{name: getattr(row, name) for name in PERSON}, "via": "supervisor"})
    rest = routes - set(found)
    if not rest:
        return found
    paths = await _by_chunks(
        session, rest, lambda chunk: select(Region.code, Region.path).where(Region.code.in_(chunk))
    )
    above = {code: [up for up in reversed(path.rstrip("/").split("/")) if up != code] for code, path in paths}
    ancestors = {code for codes in above.values() for code in codes}
    levels = await _by_chunks(
        session, ancestors, lambda chunk: select(Region.code, Region.level).where(Region.code.in_(chunk))
    )
    allowed = {code for code, level in levels if LEVEL_RANK[level] >= limit}
    people: dict[str, list[dict[str, Any]]] = defaultdict(list)
    candidates = await _by_chunks(
        session,
        allowed,
        lambda chunk: select(*columns).where(Contact.region_code.in_(chunk), Contact.active.is_(True)),
    )
    for row in sorted(candidates, key=lambda row: (row.rank, row.id)):
        people[row.region_code].append({name: getattr(row, name) for name in PERSON})
    desks = await duty_service.desks_in_force(session, allowed, now)
    for route, codes in above.items():
        for code in codes:
            desk = desks.get(code)
            if desk is not None:
                found[route] = on_duty(desk, with_leader=with_leader)
                break
            if code in people:
                lowest = people[code][0]["rank"]
                gap = {"duty_gap": True} if code in desks else {}
                found[route] = [
                    {**person, "via": "rank_1", **gap} for person in people[code] if person["rank"] == lowest
                ]
                break
    return found


def on_duty(desk: duty_service.Desk, *, with_leader: bool) -> list[dict[str, Any]]:
    """The office's officer on shift, and its leader when the matter calls for one."""
    shift = {"shift_id": desk.shift_id}
    people = [{**desk.officer, "via": "duty_officer", **shift}]
    if with_leader and desk.leader is not None and desk.leader["id"] != desk.officer["id"]:
        people.append({**desk.leader, "via": "duty_leader", **shift})
    return people


async def _by_chunks(
    session: AsyncSession, values: set[str], query_for: Callable[[list[str]], Select[Any]]
) -> list[Row[Any]]:
    """The rows of a query over many values, asked a thousand values at a time."""
    rows: list[Row[Any]] = []
    for chunk in chunks(sorted(values)):
        rows.extend((await session.execute(query_for(chunk))).all())
    return rows


async def answering_for(session: AsyncSession, code: str, *, with_leader: bool, now: datetime) -> list[dict[str, Any]]:
    """Who answers for one office itself: its duty officer on shift (and leader), else its rank-1
    contacts; nobody when it has no one on record."""
    desks = await duty_service.desks_in_force(session, {code}, now)
    desk = desks.get(code)
    if desk is not None:
        return on_duty(desk, with_leader=with_leader)
    columns = [getattr(Contact, name) for name in PERSON]
    rows = (await session.execute(
        select(*columns).where(Contact.region_code == code, Contact.active.is_(True)).order_by(Contact.rank, Contact.id)
    )).all()  # fmt: skip
    if not rows:
        return []
    lowest = rows[0].rank
    gap = {"duty_gap": True} if code in desks else {}
    return [
        {**{name: getattr(row, name) for name in PERSON}, "via": "rank_1", **gap} for row in rows if row.rank == lowest
    ]
