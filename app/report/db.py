"""SQL that only one of the two databases speaks, named for what it does: the rest of report never asks which."""

import asyncio
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Float,
    Select,
    false,
    func,
    literal,
    null,
    select,
    text,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import is_postgresql, seconds_between, session_scope
from app.models.call import Call
from app.models.region import Region
from app.models.report import ReportRollup
from app.report import figures
from app.report.figures import CALL_FIGURES, REGION_FIGURES, one_if
from app.report.scope import Scope

# Reports of this many rows or more aggregate their calls in two halves side by side (PostgreSQL).
SPLIT_ABOVE = 16
# Per key: the median and 90th percentile of the answer times.
Percentiles = dict[str, tuple[float, float]]


def _seconds_to_answer(*, postgres: bool) -> ColumnElement[float]:
    """Seconds from a call to its answer (CONTRACT: `acknowledged_at - created_at`)."""
    return seconds_between(Call.acknowledged_at, Call.created_at, postgres=postgres)


def _answer_time_list(*, postgres: bool) -> ColumnElement[Any]:
    """The answered calls' answer times as one list: an array on PostgreSQL, JSON text on SQLite."""
    listed = func.array_agg if postgres else func.json_group_array
    return listed(_seconds_to_answer(postgres=postgres)).filter(Call.acknowledged_at.is_not(None))


def ack_seconds(session: AsyncSession) -> ColumnElement[float]:
    """Seconds from a call to its answer, as the session's database computes them."""
    return _seconds_to_answer(postgres=is_postgresql(session))


def code_collation(session: AsyncSession) -> str | None:
    """The collation that compares codes byte by byte: C on PostgreSQL; SQLite compares bytes anyway."""
    return "C" if is_postgresql(session) else None


def rollups_counted(session: AsyncSession, warnings: Any) -> list[Select[Any]]:
    """The given warnings' rollup rows counted from their calls and regions (figures.counted), the
    answer times listed as the session's database keeps them."""
    return figures.counted(warnings, times=_answer_time_list(postgres=is_postgresql(session)))


async def figures_by_key(
    session: AsyncSession, scope: Scope, *, after: str | None, fetch: int | None
) -> tuple[list[Row[Any]], Percentiles]:
    """The report's figures per key in key order, after the key `after`, at most `fetch` rows (all
    when None), and each key's median and 90th percentile answer time. PostgreSQL ranks the times
    itself (percentile_cont); SQLite has no percentile_cont, so each rollup row's times come as one
    list and are ranked here."""
    if is_postgresql(session):
        rows = await _ranked_figures(session, scope, after, fetch)
        return rows, {row.key: (row.shares[0], row.shares[1]) for row in rows if row.shares is not None}
    rows = list(await session.execute(_listed_rows(scope, fetch, after=after)))
    return rows, (await _listed_percentiles(session, scope, [row.key for row in rows]) if rows else {})


def _in_key_order(query: Select[Any], key: ColumnElement[str], fetch: int | None) -> Select[Any]:
    query = query.order_by(key)
    return query.limit(fetch) if fetch is not None else query


# PostgreSQL: each call and region one a row, the answer times ranked in SQL, in halves side by side.


async def _ranked_figures(session: AsyncSession, scope: Scope, after: str | None, fetch: int | None) -> list[Row[Any]]:
    """The rows split in two halves by code, each aggregated on a connection of its own at the same
    time: the ordered aggregates (percentiles, distinct warnings) sort each row's values on one core
    per query, so two halves use both cores."""
    levels = select(func.substr(Region.code, 1, scope.digits)).where(
        Region.level == scope.group_by, Region.code.startswith(scope.prefix), Region.abolished.is_(False)
    )
    if after is not None:
        levels = levels.where(Region.code > after.ljust(12, "9"))
    keys = list(await session.scalars(levels.order_by(Region.code).limit(fetch or None)))
    if len(keys) < SPLIT_ABOVE:
        return await _aggregate(session, _ranked_rows(scope, fetch, after=after), parallel=True)
    middle = await _middle_key(session, scope, keys)
    halves = [
        _ranked_rows(scope, fetch, after=after, end=middle),
        _ranked_rows(scope, fetch, start=middle),
    ]

    async def aggregate(query: Select[Any]) -> list[Row[Any]]:
        async with session_scope(read_only=True) as own:
            return await _aggregate(own, query, parallel=False)

    lower, upper = await asyncio.gather(*(aggregate(query) for query in halves))
    rows = lower + upper
    return rows[:fetch] if fetch is not None else rows


async def _middle_key(session: AsyncSession, scope: Scope, keys: list[str]) -> str:
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


def _ranked_rows(scope: Scope, fetch: int | None, **bounds: str | None) -> Select[Any]:
    """Per key: warnings, calls, acknowledged, in time, with feedback, targeted, reached and
    escalated regions, and the median and 90th percentile of the answer times (`shares`)."""
    where = scope.where(**bounds)
    answers = union_all(*_answers_one_a_row(scope.warnings, scope.unsealed, where=where)).subquery().c
    answer_key = scope.key(answers.code)
    calls = (
        select(
            answer_key.label("key"),
            func.count(func.distinct(scope.bytewise(answers.warning_id))).filter(answers.calls > 0).label("warnings"),
            *(func.sum(answers[name]).label(name) for name in CALL_FIGURES),
            _answer_time_shares(answers.seconds).label("shares"),
        )
        .group_by(answer_key)
        .subquery()
    )
    regions = union_all(*figures.regions_one_a_row(scope.warnings, scope.unsealed, where=where)).subquery().c
    region_key = scope.key(regions.code)
    targeted = (
        select(region_key.label("key"), *(func.sum(regions[name]).label(name) for name in REGION_FIGURES))
        .group_by(region_key)
        .subquery()
    )
    # A row exists where there were calls or targeted regions (a region nobody is on record for).
    key = func.coalesce(calls.c.key, targeted.c.key).label("key")
    query = select(
        key, func.coalesce(calls.c.warnings, 0).label("warnings"),
        *(func.coalesce(calls.c[name], 0).label(name) for name in CALL_FIGURES),
        *(func.coalesce(targeted.c[name], 0).label(name) for name in REGION_FIGURES), calls.c.shares,
    ).select_from(calls.join(targeted, calls.c.key == targeted.c.key, full=True))  # fmt: skip
    return _in_key_order(query, key, fetch)


def _answer_time_shares(seconds: ColumnElement[float]) -> ColumnElement[Any]:
    """The median and 90th percentile of the answer times, both from one sort of them."""
    shares = postgresql.array([literal(0.5), literal(0.9)], type_=Float)
    return func.percentile_cont(shares).within_group(seconds)


def _answers_one_a_row(sealed: Any, unsealed: Any, *, where: Any) -> list[Select[Any]]:
    """The calls' figures for one aggregate (warning_id, code, CALL_FIGURES, seconds), each row with
    at most one answer time: the sealed warnings' rollup rows, then their answer times unnested one
    a row (nothing else on those rows), and the other warnings' alert calls one row each. Counting
    these calls straight, rather than rolled up on the fly, spares a warning of a million calls
    from building arrays only to unnest them."""
    rollup = ReportRollup.__table__.c
    counts = select(
        rollup.warning_id, rollup.township_digits.label("code"), *(rollup[name] for name in CALL_FIGURES),
        type_coerce(null(), Float).label("seconds"),
    ).where(rollup.warning_id.in_(sealed), *where(rollup.township_digits))  # fmt: skip
    times = func.unnest(rollup.ack_seconds).table_valued("s").render_derived(name="times")
    answer_times = (
        select(null(), rollup.township_digits, *(literal(0) for _ in CALL_FIGURES), times.c.s)
        .select_from(ReportRollup.__table__)
        .join(times, true())
        .where(rollup.warning_id.in_(sealed), *where(rollup.township_digits))
    )
    answered = Call.acknowledged_at.is_not(None)
    calls = select(
        Call.warning_id, Call.contact_region_code, literal(1), one_if(answered),
        one_if(answered, Call.late.is_(false())), one_if(answered, Call.feedback_count > 0),
        _seconds_to_answer(postgres=True),
    ).where(Call.warning_id.in_(unsealed), Call.kind == "alert", *where(Call.contact_region_code))  # fmt: skip
    return [counts, answer_times, calls]


# SQLite: the rollup rows stored or counted, each row's answer times as one list, ranked here.


def _facts(scope: Scope, **bounds: str | None) -> CTE:
    """Rollup rows, stored or counted, with their answer times as a list."""
    where = scope.where(**bounds)
    stored = figures.stored(scope.warnings, where=where)
    counted = figures.counted(scope.unsealed, times=_answer_time_list(postgres=False), where=where)
    return union_all(stored, *counted).cte("facts")


def _listed_rows(scope: Scope, fetch: int | None, **bounds: str | None) -> Select[Any]:
    """Per key: warnings, calls, acknowledged, in time, with feedback, targeted, reached and
    escalated regions."""
    facts = _facts(scope, **bounds).c
    key = scope.key(facts.township_digits).label("key")
    query = select(
        key,
        func.count(func.distinct(facts.warning_id)).filter(facts.calls > 0).label("warnings"),
        *(func.sum(facts[name]).label(name) for name in CALL_FIGURES + REGION_FIGURES),
    ).group_by(key)
    return _in_key_order(query, key, fetch)


async def _listed_percentiles(session: AsyncSession, scope: Scope, keys: list[str]) -> Percentiles:
    """Median and 90th percentile per key: each rollup row's times come as one list, gathered per
    key and sorted here."""
    facts = _facts(scope, start=keys[0], end=keys[-1] + "~")
    query = select(scope.key(facts.c.township_digits), facts.c.ack_seconds).where(facts.c.ack_seconds.is_not(None))
    times: dict[str, list[float]] = {}
    for group, seconds in (await session.execute(query)).tuples():
        times.setdefault(group, []).extend(seconds)
    return {
        group: (_percentile(values, 0.5), _percentile(values, 0.9))
        for group, values in ((group, sorted(values)) for group, values in times.items())
        if values
    }


def _percentile(values: Sequence[float], share: float) -> float:
    """Linear interpolation between the closest ranks, as PostgreSQL's percentile_cont."""
    position = (len(values) - 1) * share
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)
