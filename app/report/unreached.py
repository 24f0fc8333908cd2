"""The regions never reached: targeted regions of a report's warnings that nobody answered for."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.warning import Warning, WarningRegion
from app.report.coverage import Coverage, region_prefix, warnings_of


@dataclass
class UnreachedRow:
    warning_id: str
    hazard: str
    level: str
    mode: str
    issued_at: datetime
    warning_status: str
    region_code: str
    name: str
    region_level: str
    state: str
    escalated_at: datetime | None


UNREACHED_FIELDS = [f.name for f in fields(UnreachedRow)]


async def unreached_regions(
    session: AsyncSession, coverage: Coverage, *, after: tuple[str, str] | None = None, fetch: int | None = None
) -> list[UnreachedRow]:
    """Targeted regions of the period's warnings that nobody answered for and nobody confirmed
    (still unreached, uncovered or unreachable), by warning then region; after (warning, region)."""
    query = (
        select(Warning, WarningRegion)
        .join(WarningRegion, WarningRegion.warning_id == Warning.id)
        .where(*warnings_of(coverage), WarningRegion.state != "reached")
        .where(WarningRegion.region_code.startswith(region_prefix(coverage.region)))
        .order_by(Warning.id, WarningRegion.region_code)
    )
    if after is not None:
        last = tuple_(literal(after[0]), literal(after[1]))
        query = query.where(tuple_(Warning.id, WarningRegion.region_code) > last)
    if fetch is not None:
        query = query.limit(fetch)
    rows = []
    for w, r in (await session.execute(query)).tuples():
        row = UnreachedRow(
            warning_id=w.id, hazard=w.hazard, level=w.level, mode=w.mode, issued_at=w.created_at,
            warning_status=w.status, region_code=r.region_code, name=r.name,
            region_level=r.level, state=r.state, escalated_at=r.escalated_at,
        )  # fmt: skip
        rows.append(row)
    return rows


async def stream_unreached_regions(session: AsyncSession, coverage: Coverage) -> AsyncIterator[list[UnreachedRow]]:
    """Every region never reached, a thousand at a time (for the CSV download)."""
    after = None
    while batch := await unreached_regions(session, coverage, after=after, fetch=1000):
        yield batch
        after = (batch[-1].warning_id, batch[-1].region_code)
