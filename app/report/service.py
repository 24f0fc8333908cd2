"""Response reports for auditors: per county or township, how fast and how fully the chain held."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.broadcast import Broadcast
from app.models.region import Region
from app.report import db
from app.report.coverage import Coverage, GroupBy
from app.report.scope import Scope


@dataclass
class ResponseRow:
    region_code: str
    name: str
    warnings: int = 0
    calls: int = 0
    acknowledged: int = 0
    ack_rate: float | None = None
    median_ack_s: float | None = None
    p90_ack_s: float | None = None
    within_deadline_rate: float | None = None
    unanswered: int = 0
    escalated: int = 0
    targeted_regions: int = 0
    reached_regions: int = 0
    reached_rate: float | None = None
    feedback_rate: float | None = None
    # Targeted regions with a loudspeaker whose broadcast played (delivered, or confirmed 已广播) /
    # targeted regions with a loudspeaker; None where none had one.
    broadcast_rate: float | None = None


ROW_FIELDS = [f.name for f in fields(ResponseRow)]


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def response_rows(
    session: AsyncSession, coverage: Coverage, group_by: GroupBy, *, after: str | None = None, fetch: int | None = None
) -> list[ResponseRow]:
    """Report rows in code order, after the cursor `after` (a county's or township's code), at most
    `fetch` of them (all when None). A row exists where there were calls or targeted regions.

    Aggregated in SQL over the warnings issued in the period: the sealed ones from their rollups by
    township (report.rollup), the others from their calls and targeted regions (report.scope)."""
    scope = Scope(coverage, group_by, collation=db.code_collation(session))
    after_key = after[: scope.digits] if after else None
    figures, acks = await db.figures_by_key(session, scope, after=after_key, fetch=fetch)
    names = await _names(session, [row.key.ljust(12, "0") for row in figures])
    broadcasts = await _broadcast_counts(session, scope, [row.key for row in figures]) if figures else {}
    return [_response_row(row, names, acks, broadcasts) for row in figures]


def _response_row(
    row: Row[Any], names: dict[str, str], acks: db.Percentiles, broadcasts: dict[str, tuple[int, int]]
) -> ResponseRow:
    """One row of the report from its key's figures, answer times, name and broadcasts."""
    calls, acknowledged, reached, targeted = (int(n) for n in (row.calls, row.acknowledged, row.reached_regions,
                                                               row.targeted_regions))  # fmt: skip
    median, p90 = acks.get(row.key, (None, None))
    code = row.key.ljust(12, "0")
    return ResponseRow(
        region_code=code, name=names.get(code, ""), warnings=row.warnings, calls=calls,
        acknowledged=acknowledged, ack_rate=_share(acknowledged, calls),
        median_ack_s=None if median is None else round(float(median), 3),
        p90_ack_s=None if p90 is None else round(float(p90), 3),
        within_deadline_rate=_share(int(row.in_time), calls), unanswered=calls - acknowledged,
        escalated=int(row.escalated_regions), targeted_regions=targeted, reached_regions=reached,
        reached_rate=_share(reached, targeted), feedback_rate=_share(int(row.with_feedback), acknowledged),
        broadcast_rate=_share(*reversed(broadcasts.get(row.key, (0, 0)))),
    )  # fmt: skip


async def _broadcast_counts(session: AsyncSession, scope: Scope, keys: list[str]) -> dict[str, tuple[int, int]]:
    """Per key: the alert broadcasts of the report's warnings (one per targeted region with a
    loudspeaker), and how many played."""
    key = scope.key(Broadcast.region_code)
    played = or_(Broadcast.status == "delivered", Broadcast.confirmed_at.is_not(None))
    query = (
        select(key, func.count(), func.count().filter(played))
        .where(Broadcast.warning_id.in_(scope.warnings), Broadcast.kind == "alert", Broadcast.status != "cancelled",
               *scope.where(start=keys[0], end=keys[-1] + "~")(Broadcast.region_code))
        .group_by(key)
    )  # fmt: skip
    return {group: (int(total), int(done)) for group, total, done in (await session.execute(query)).tuples()}


async def stream_response_rows(
    session: AsyncSession, coverage: Coverage, group_by: GroupBy
) -> AsyncIterator[list[ResponseRow]]:
    """Every row of a report, a thousand at a time (for the CSV download)."""
    after = None
    while rows := await response_rows(session, coverage, group_by, after=after, fetch=1000):
        yield rows
        after = rows[-1].region_code
        if len(rows) < 1000:
            return


async def _names(session: AsyncSession, codes: list[str]) -> dict[str, str]:
    if not codes:
        return {}
    return dict((await session.execute(select(Region.code, Region.name).where(Region.code.in_(codes)))).tuples().all())
