"""Very large fan-outs in steps. A warning that would call more people than
JIAOYING_ASYNC_FANOUT_ABOVE is stored at once with status `expanding` (the request answers 202);
the heartbeat then stores its targeted regions and its calls a slice at a time.

Each slice is one transaction that also moves the warning's progress (`Warning.expansion`), so a
crash between slices loses nothing and the next heartbeat carries on where the last commit ended;
memory holds one slice, never the country. Regions go first, in tree order; then people in phone
order, so that everyone with one phone falls in one slice and gets one call naming all their
regions. Calls are due as soon as their slice commits, so the first messages leave while the rest
is still being written. The warning becomes `active` with the last slice.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.bulk import bulk_insert
from app.db import among, analyze, chunks, core_rows
from app.models.contact import Contact
from app.models.region import Region
from app.models.warning import Warning, WarningRegion
from app.policy.snapshot import PolicySnapshot
from app.warning import fanout

REGION_SLICE = 50_000
PEOPLE_SLICE = 50_000  # roster rows; a few more people than that when phones repeat


async def roster_above(session: AsyncSession, area_paths: list[str], reach: list[str], limit: int) -> bool:
    """Whether the targeted regions hold more than `limit` people on the roster: counted up to
    limit + 1 rows, so the check costs little for the small warnings that are most of them."""
    rows = fanout.on_roster(select(Contact.id), area_paths, reach).limit(limit + 1).subquery()
    return int((await session.execute(select(func.count()).select_from(rows))).scalar() or 0) > limit


def begin(warning: Warning, *, actor: str) -> audit_service.Event:
    """Mark a new warning `expanding`; its `warning.issued` event is written now, and
    `warning.expanded` counts the calls and regions once the last step is stored."""
    warning.status = "expanding"
    warning.expansion = {"stage": "regions", "after": None, "regions": 0, "uncovered": 0, "calls": 0}
    return fanout.issued_event(warning, actor=actor, calls=None, regions=None, uncovered=None)


async def expanding_ids(session: AsyncSession) -> list[str]:
    return list(await session.scalars(select(Warning.id).where(Warning.status == "expanding").order_by(Warning.id)))


async def step(session: AsyncSession, warning_id: str, *, now: datetime) -> bool:
    """Store the next slice of an expanding warning; False when there is nothing (left) to do here.
    The warning's row is locked for the slice, and skipped if another process holds it."""
    # SQLite compiles FOR UPDATE away: its writers take turns already.
    query = select(Warning).where(Warning.id == warning_id, Warning.status == "expanding")
    query = query.with_for_update(skip_locked=True)
    warning = await session.scalar(query.execution_options(populate_existing=True))
    if warning is None or warning.expansion is None:
        return False
    progress = dict(warning.expansion)
    if progress["stage"] == "regions":
        await _regions_slice(session, warning, progress)
    else:
        await _people_slice(session, warning, progress, now=now)
    warning.expansion = progress
    return True


async def _regions_slice(session: AsyncSession, warning: Warning, progress: dict[str, Any]) -> None:
    reach = list(PolicySnapshot.of(warning.policy).reach)
    query = fanout.targeted_regions_query(warning.area_paths, reach).limit(REGION_SLICE)
    if progress["after"] is not None:
        query = query.where(Region.path > progress["after"])
    regions = [row._asdict() for row in await core_rows(session, query)]
    codes = [region["code"] for region in regions]
    covered: set[str] = set()
    for part in chunks(codes):
        active = Contact.active.is_(True)
        on_roster = select(distinct(Contact.region_code)).where(among(Contact.region_code, part), active)
        covered.update((await core_rows(session, on_roster)).scalars())
    await bulk_insert(session, WarningRegion, fanout.region_rows(warning.id, regions, covered))
    progress["regions"] += len(regions)
    progress["uncovered"] += len(codes) - len(covered & set(codes))
    progress["after"] = regions[-1]["path"] if regions else progress["after"]
    if len(regions) < REGION_SLICE:
        progress["stage"], progress["after"] = "people", None


async def _people_slice(session: AsyncSession, warning: Warning, progress: dict[str, Any], *, now: datetime) -> None:
    reach = list(PolicySnapshot.of(warning.policy).reach)
    query = fanout.people_query(warning.area_paths, reach).limit(PEOPLE_SLICE)
    if progress["after"] is not None:
        query = query.where(Contact.phone > progress["after"])
    rows = (await core_rows(session, query)).tuples().all()
    full = len(rows) == PEOPLE_SLICE
    if full and rows[0][2] != rows[-1][2]:
        # The last phone may go on in the next rows: it is left whole to the next slice.
        last = rows[-1][2]
        rows = [row for row in rows if row[2] != last]
    by_phone = fanout.group_people(rows)
    actor = warning.created_by
    events: list[audit_service.Event] = []
    # The chain's head is locked only at the end: answers to the calls of earlier slices go on meanwhile.
    await fanout.store_calls(session, warning, by_phone, events.append, actor=actor, now=now)
    if progress["calls"] == 0:
        # The calls table may have grown from nothing since it was last analyzed: statistics now, so
        # that the sender's and the heartbeat's lookups (due attempts, deadlines) keep their indexes
        # while the slices to come grow it further.
        await analyze(session, "calls")
    progress["calls"] += len(by_phone)
    progress["after"] = rows[-1][2] if rows else progress["after"]
    if not full:
        events += await _finish(session, warning, progress, actor=actor, now=now)
    await audit_service.record_events(session, events, chain=audit_service.warning_chain(warning.id), now=now)


async def _finish(
    session: AsyncSession, warning: Warning, progress: dict[str, Any], *, actor: str, now: datetime
) -> list[audit_service.Event]:
    uncovered: Sequence[str] = list(
        await session.scalars(
            select(WarningRegion.region_code)
            .where(WarningRegion.warning_id == warning.id, WarningRegion.state == "uncovered")
            .order_by(WarningRegion.region_code)
        )
    )
    warning.status = "active"
    warning.targeted_regions = progress["regions"]
    warning.uncovered_area_codes = list(uncovered)
    progress["stage"] = "done"
    expanded = audit_service.Event(
        type="warning.expanded",
        actor=actor,
        warning_id=warning.id,
        data={"calls": progress["calls"], "targeted_regions": progress["regions"], "uncovered": len(uncovered)},
    )
    return [expanded, *await fanout.settle(session, warning, calls=progress["calls"], uncovered=list(uncovered),
                                           actor=actor, now=now)]  # fmt: skip
