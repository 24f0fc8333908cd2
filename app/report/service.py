"""Response reports for auditors: per county or township, how fast and how fully the chain held.

Aggregated in SQL over the warnings issued in the period: the sealed ones from their rollups by
township (report.rollup), the others from their calls and targeted regions. Counties and townships
are found from the statistical codes themselves (the first 6 or 9 digits name a region's county and
township), so a year of calls is grouped without joining each call to the region tree."""

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import (
    CTE,
    ColumnElement,
    Float,
    Select,
    SQLColumnExpression,
    and_,
    func,
    literal,
    or_,
    select,
    text,
    tuple_,
    union_all,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import session_scope
from app.errors import Unprocessable
from app.models.broadcast import Broadcast
from app.models.region import LEVEL_RANK, Region
from app.models.warning import Warning, WarningRegion
from app.report import rollup

GroupBy = Literal["county", "township"]
ReportMode = Literal["actual", "exercise"]
# Digits of a statistical code that name a region's ancestor at each level; the rest are zeros.
SIGNIFICANT_DIGITS = {"province": 2, "prefecture": 4, "county": 6, "township": 9, "village": 12}
# A code whose digits past these are all zeros lies above the grouping level (a county's digits
# past 4 are not all zero; a township's past 6 are not).
ABOVE_DIGITS = {6: 4, 9: 6}
DEFAULT_PERIOD = timedelta(days=30)
# Reports of this many rows or more aggregate their calls in two halves side by side (PostgreSQL).
SPLIT_ABOVE = 16


@dataclass
class Period:
    since: datetime
    until: datetime


@dataclass
class Coverage:
    """What a report covers: warnings issued in the period, of one mode, inside a region (or everywhere)."""

    region: Region | None
    period: Period
    mode: ReportMode


def resolve_period(since: datetime | None, until: datetime | None, *, now: datetime) -> Period:
    """`[since, until)`, by default the last 30 days; 422 when reversed or beyond any use."""
    until = until or now
    since = since or until - DEFAULT_PERIOD
    errors = []
    for name, moment in (("since", since), ("until", until)):
        if moment.tzinfo is None:
            errors.append({"loc": ["query", name], "msg": "give the offset too, e.g. 2026-07-01T00:00:00+08:00"})
        elif not 2000 <= moment.year <= 2100:
            errors.append({"loc": ["query", name], "msg": "must lie between the years 2000 and 2100"})
    if errors:
        raise Unprocessable("The period is not one a report can cover.", errors=errors)
    if since >= until:
        raise Unprocessable(
            f"The period is empty or reversed: since ({since.isoformat()}) must be before until ({until.isoformat()}).",
            errors=[{"loc": ["query", "since"], "msg": "must be earlier than until"}],
        )
    return Period(since, until)


def region_prefix(region: Region | None) -> str:
    """The digits every code in the region's subtree starts with ("" for the whole country)."""
    return region.code[: SIGNIFICANT_DIGITS[region.level]] if region else ""


def check_grouping(region: Region | None, group_by: GroupBy) -> None:
    """A county report needs a region above or at county level; a township report, above or at township."""
    if region is not None and LEVEL_RANK[region.level] > LEVEL_RANK[group_by]:
        raise Unprocessable(
            f"{region.name} ({region.code}) is a {region.level}; it has no {group_by} rows to report. "
            f"Report on a region that contains {group_by}s.",
            errors=[{"loc": ["query", "region_code"], "msg": f"a {region.level} cannot be grouped by {group_by}"}],
        )


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


class _Scope:
    """What a report reads: the rollup rows of warnings of the period and mode, stored for sealed
    warnings and counted from the calls and regions of the others, inside the region's subtree, each
    keyed by the county or township it lies in."""

    def __init__(self, coverage: Coverage, group_by: GroupBy, *, postgres: bool) -> None:
        self.postgres = postgres
        self.prefix = region_prefix(coverage.region)
        self.digits = SIGNIFICANT_DIGITS[group_by]
        # Ids of the period's warnings (only the sealed ones have rollup rows), and of those not sealed.
        period = select(Warning.id).where(*warnings_of(coverage))
        self.warnings = period.scalar_subquery()
        self.unsealed = period.where(Warning.sealed_at.is_(None)).scalar_subquery()

    def key(self, township: SQLColumnExpression[str]) -> ColumnElement[str]:
        return self.bytewise(func.substr(township, 1, self.digits))

    def bytewise(self, value: SQLColumnExpression[str]) -> ColumnElement[str]:
        """Compared byte by byte: grouping a year of calls sorts them, and digits need no locale rules."""
        column = cast(ColumnElement[str], value)
        return column.collate("C") if self.postgres else column

    def inside(self, township: SQLColumnExpression[str]) -> ColumnElement[bool]:
        """In the subtree and below the level above the grouping: a county's own staff belong to no
        township. (A township straight under a prefecture, as in 东莞, counts in its prefecture's row.)"""
        # Judged on the township's digits, which every code below a township has (a village code
        # with township digits 000 would count in no row; the national table has none).
        above = ABOVE_DIGITS[self.digits]
        zeros = "0" * (rollup.TOWNSHIP_DIGITS - above)
        return and_(township.startswith(self.prefix), func.substr(township, above + 1, len(zeros)) != zeros)

    def where(
        self, after: str | None = None, start: str | None = None, end: str | None = None
    ) -> Callable[[SQLColumnExpression[str]], list[ColumnElement[bool]]]:
        """Conditions on a code (or its township digits): inside, its key after `after`, from
        `start` on and before `end` (as given)."""

        def conditions(code: SQLColumnExpression[str]) -> list[ColumnElement[bool]]:
            key = self.key(code)
            bounds = [key > after if after else None, key >= start if start else None, key < end if end else None]
            return [self.inside(code), *(bound for bound in bounds if bound is not None)]

        return conditions

    def facts(self, *, after: str | None = None, start: str | None = None, end: str | None = None) -> CTE:
        """SQLite: rollup rows, stored or counted, with their answer times as a list."""
        where = self.where(after, start, end)
        stored = rollup.stored(self.warnings, where=where)
        return union_all(stored, *rollup.counted(self.unsealed, postgres=False, where=where)).cte("facts")


def warnings_of(coverage: Coverage) -> list[ColumnElement[bool]]:
    """Conditions on the warnings a report covers: issued in the period, of its mode, and standing.
    A withdrawn warning (撤回, issued in error) is left out; a warning and the updates that
    superseded it count as one, the update in force, whose calls are the ones counted."""
    period = coverage.period
    return [
        Warning.created_at >= period.since,
        Warning.created_at < period.until,
        Warning.mode == coverage.mode,
        Warning.status != "superseded",
        or_(Warning.close_kind.is_(None), Warning.close_kind != "withdrawn"),
    ]


def _rows_query(scope: _Scope, fetch: int | None, **bounds: str | None) -> Select[Any]:
    """Per key: warnings, calls, acknowledged, in time, with feedback, targeted, reached and
    escalated regions; on PostgreSQL the median and 90th percentile of the answer times too."""
    if not scope.postgres:
        facts = scope.facts(**bounds).c
        key = scope.key(facts.township_digits).label("key")
        query = select(
            key,
            func.count(func.distinct(facts.warning_id)).filter(facts.calls > 0).label("warnings"),
            *(func.sum(facts[name]).label(name) for name in rollup.CALL_FIGURES + rollup.REGION_FIGURES),
        ).group_by(key)
    else:
        where = scope.where(**bounds)
        answers = union_all(*rollup.answers_one_a_row(scope.warnings, scope.unsealed, where=where)).subquery().c
        answer_key = scope.key(answers.code)
        # Both percentiles from one sort of the row's answer times.
        shares = postgresql.array([literal(0.5), literal(0.9)], type_=Float)
        calls = (
            select(
                answer_key.label("key"),
                func.count(func.distinct(scope.bytewise(answers.warning_id)))
                .filter(answers.calls > 0)
                .label("warnings"),
                *(func.sum(answers[name]).label(name) for name in rollup.CALL_FIGURES),
                func.percentile_cont(shares).within_group(answers.seconds).label("shares"),
            )
            .group_by(answer_key)
            .subquery()
        )
        regions = union_all(*rollup.regions_one_a_row(scope.warnings, scope.unsealed, where=where)).subquery().c
        region_key = scope.key(regions.code)
        targeted = (
            select(region_key.label("key"), *(func.sum(regions[name]).label(name) for name in rollup.REGION_FIGURES))
            .group_by(region_key)
            .subquery()
        )
        # A row exists where there were calls or targeted regions (a region nobody is on record for).
        key = func.coalesce(calls.c.key, targeted.c.key).label("key")
        query = select(
            key, func.coalesce(calls.c.warnings, 0).label("warnings"),
            *(func.coalesce(calls.c[name], 0).label(name) for name in rollup.CALL_FIGURES),
            *(func.coalesce(targeted.c[name], 0).label(name) for name in rollup.REGION_FIGURES), calls.c.shares,
        ).select_from(calls.join(targeted, calls.c.key == targeted.c.key, full=True))  # fmt: skip
    query = query.order_by(key)
    return query.limit(fetch) if fetch is not None else query


async def _figures(
    session: AsyncSession, scope: _Scope, group_by: GroupBy, after: str | None, fetch: int | None
) -> list[Row[Any]]:
    """The report's figures per row. On PostgreSQL the rows are split in two halves by code, each
    aggregated on a connection of its own at the same time: the ordered aggregates (percentiles,
    distinct warnings) sort each row's values on one core per query, so two halves use both cores."""
    if not scope.postgres:
        return list(await session.execute(_rows_query(scope, fetch, after=after)))
    levels = select(func.substr(Region.code, 1, scope.digits)).where(
        Region.level == group_by, Region.code.startswith(scope.prefix), Region.abolished.is_(False)
    )
    if after is not None:
        levels = levels.where(Region.code > after.ljust(12, "9"))
    keys = list(await session.scalars(levels.order_by(Region.code).limit(fetch or None)))
    if len(keys) < SPLIT_ABOVE:
        return await _aggregate(session, _rows_query(scope, fetch, after=after), parallel=True)
    middle = await _middle_key(session, scope, keys)
    halves = [
        _rows_query(scope, fetch, after=after, end=middle),
        _rows_query(scope, fetch, start=middle),
    ]

    async def aggregate(query: Select[Any]) -> list[Row[Any]]:
        async with session_scope(read_only=True) as own:
            return await _aggregate(own, query, parallel=False)

    lower, upper = await asyncio.gather(*(aggregate(query) for query in halves))
    rows = lower + upper
    return rows[:fetch] if fetch is not None else rows


async def _middle_key(session: AsyncSession, scope: _Scope, keys: list[str]) -> str:
    """Where to split the rows so that both halves have about the same calls to aggregate: calls
    follow the people on the roster, who follow the regions, so each row is weighed by the regions
    under it (a split at the middle row left one half with 30 % more calls than the other)."""
    key = func.substr(Region.code, 1, scope.digits)
    query = select(key, func.count()).where(Region.code.startswith(scope.prefix), key.in_(keys)).group_by(key)
    weights = dict((await session.execute(query)).tuples().all())
    half, running = sum(weights.values()) / 2, 0
    for index, candidate in enumerate(keys[:-1]):
        running += weights.get(candidate, 0)
        if running >= half:
            return keys[index + 1]
    return keys[len(keys) // 2]


async def _aggregate(session: AsyncSession, query: Select[Any], *, parallel: bool) -> list[Row[Any]]:
    """Run an aggregate over up to a year of calls: sorts in memory, no JIT compile (it costs more
    than it saves here), and PostgreSQL's parallel workers when this is the only query running."""
    settings = ["jit = off", "work_mem = '128MB'"]
    settings += (
        ["parallel_setup_cost = 0", "parallel_tuple_cost = 0"] if parallel else ["max_parallel_workers_per_gather = 0"]
    )
    for setting in settings:
        await session.execute(text(f"SET LOCAL {setting}"))
    return list(await session.execute(query))


def _percentile(values: Sequence[float], share: float) -> float:
    """Linear interpolation between the closest ranks, as PostgreSQL's percentile_cont."""
    position = (len(values) - 1) * share
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


async def _sqlite_percentiles(session: AsyncSession, scope: _Scope, keys: list[str]) -> dict[str, tuple[float, float]]:
    """Median and 90th percentile per key (SQLite has no percentile_cont): each rollup row's times
    come as one list, gathered per key and sorted here."""
    facts = scope.facts(start=keys[0], end=keys[-1] + "~")
    query = select(scope.key(facts.c.township_digits), facts.c.ack_seconds).where(facts.c.ack_seconds.is_not(None))
    times: dict[str, list[float]] = {}
    for group, seconds in (await session.execute(query)).tuples():
        times.setdefault(group, []).extend(seconds)
    return {
        group: (_percentile(values, 0.5), _percentile(values, 0.9))
        for group, values in ((group, sorted(values)) for group, values in times.items())
        if values
    }


async def response_rows(
    session: AsyncSession, coverage: Coverage, group_by: GroupBy, *, after: str | None = None, fetch: int | None = None
) -> list[ResponseRow]:
    """Report rows in code order, after the cursor `after` (a county's or township's code), at most
    `fetch` of them (all when None). A row exists where there were calls or targeted regions."""
    scope = _Scope(coverage, group_by, postgres=session.bind.dialect.name == "postgresql")
    after_key = after[: scope.digits] if after else None
    figures = await _figures(session, scope, group_by, after_key, fetch)
    acks: dict[str, tuple[float, float]] = {}
    if scope.postgres:
        acks = {row.key: (row.shares[0], row.shares[1]) for row in figures if row.shares is not None}
    elif figures:
        acks = await _sqlite_percentiles(session, scope, [row.key for row in figures])
    names = await _names(session, [row.key.ljust(12, "0") for row in figures])
    broadcasts = await _broadcast_counts(session, scope, [row.key for row in figures]) if figures else {}
    rows = []
    for row in figures:
        calls, acknowledged, reached, targeted = (int(n) for n in (row.calls, row.acknowledged, row.reached_regions,
                                                                   row.targeted_regions))  # fmt: skip
        median, p90 = acks.get(row.key, (None, None))
        code = row.key.ljust(12, "0")
        entry = ResponseRow(
            region_code=code, name=names.get(code, ""), warnings=row.warnings, calls=calls,
            acknowledged=acknowledged, ack_rate=_share(acknowledged, calls),
            median_ack_s=None if median is None else round(float(median), 3),
            p90_ack_s=None if p90 is None else round(float(p90), 3),
            within_deadline_rate=_share(int(row.in_time), calls), unanswered=calls - acknowledged,
            escalated=int(row.escalated_regions), targeted_regions=targeted, reached_regions=reached,
            reached_rate=_share(reached, targeted), feedback_rate=_share(int(row.with_feedback), acknowledged),
            broadcast_rate=_share(*reversed(broadcasts.get(row.key, (0, 0)))),
        )  # fmt: skip
        rows.append(entry)
    return rows


async def _broadcast_counts(session: AsyncSession, scope: _Scope, keys: list[str]) -> dict[str, tuple[int, int]]:
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
