"""A warning's counts: its calls by kind and status, its regions by county and state.

On PostgreSQL the database keeps them in call_tallies and region_tallies (triggers, migrations
0009 and 0012), exact within every transaction, so a nationwide warning is counted from a few rows
instead of two million; each group is spread over slots, one per writing connection, summed here.
SQLite, the embedded default for warnings of a county or so, counts the rows.
"""

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.call.db import tallies_kept
from app.models.call import IS_OPEN, OPEN_STATUSES, Call
from app.models.warning import CallTally, RegionTally, WarningRegion


@dataclass(frozen=True)
class CallGroup:
    kind: str
    status: str
    calls: int
    attempts: int


@dataclass(frozen=True)
class RegionGroup:
    county: str  # the first six digits of the region codes
    state: str
    escalated: bool
    regions: int


async def open_calls(session: AsyncSession) -> dict[str, int]:
    """Calls waiting for an answer, by status (the metrics' backlog): every warning's and every
    hazard report's. The tallies count warnings' calls; reports' open calls are few, read from
    their partial index (ix_calls_open_hazard_deadline_at)."""
    found = dict.fromkeys(OPEN_STATUSES, 0)
    if tallies_kept(session):
        queries = [
            select(CallTally.status, func.sum(CallTally.calls))
            .where(CallTally.status.in_(OPEN_STATUSES))
            .group_by(CallTally.status),
            select(Call.status, func.count()).where(Call.hazard_id.is_not(None), IS_OPEN).group_by(Call.status),
        ]
    else:
        queries = [select(Call.status, func.count()).where(IS_OPEN).group_by(Call.status)]
    for query in queries:
        for status, count in (await session.execute(query)).tuples():
            found[status] += int(count)
    return found


async def calls(session: AsyncSession, warning_id: str) -> list[CallGroup]:
    """The warning's calls by kind and status (groups with none left out), with their attempts."""
    if tallies_kept(session):
        query = (
            select(CallTally.kind, CallTally.status, func.sum(CallTally.calls), func.sum(CallTally.attempts))
            .where(CallTally.warning_id == warning_id)
            .group_by(CallTally.kind, CallTally.status)
            .having(func.sum(CallTally.calls) != 0)
        )
    else:
        query = (
            select(Call.kind, Call.status, func.count(), func.coalesce(func.sum(Call.attempts), 0))
            .where(Call.warning_id == warning_id)
            .group_by(Call.kind, Call.status)
        )
    return [CallGroup(kind, status, int(count), int(attempts)) for kind, status, count, attempts in (
        await session.execute(query)).tuples()]  # fmt: skip


async def regions(session: AsyncSession, warning_id: str) -> list[RegionGroup]:
    """The warning's targeted regions by county, state and whether escalated (groups with none left out)."""
    if tallies_kept(session):
        groups = (RegionTally.county, RegionTally.state, RegionTally.escalated)
        query = (
            select(*groups, func.sum(RegionTally.regions))
            .where(RegionTally.warning_id == warning_id)
            .group_by(*groups)
            .having(func.sum(RegionTally.regions) != 0)
        )
    else:
        county = func.substr(WarningRegion.region_code, 1, 6)
        escalated = WarningRegion.escalated_at.is_not(None)
        query = (
            select(county, WarningRegion.state, escalated, func.count())
            .where(WarningRegion.warning_id == warning_id)
            .group_by(county, WarningRegion.state, escalated)
        )
    return [RegionGroup(county, state, bool(escalated), int(count)) for county, state, escalated, count in (
        await session.execute(query)).tuples()]  # fmt: skip
