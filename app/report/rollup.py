"""Sealing: a week after a warning ends, its figures are rolled up by township for the reports.

Until then a late answer, a 反馈 or a confirmation may still change them. From then on every path
refuses with 410 (the link, feedback, a manual answer, a confirmation: call.service.ensure_unsealed),
so the rollup is final. The response report then reads a year of warnings from a few rows each and
counts only the calls of warnings not yet sealed (see report.service).

`counted` gives a warning's rollup rows, stored when it is sealed (`seal_due`) and, on SQLite,
counted on the fly for a report on warnings still open. On PostgreSQL a report counts the open
warnings' calls and regions one a row instead (`answers_one_a_row`, `regions_one_a_row`), by the
same definitions, which tests/report/test_rollup.py holds to: every report reads the same before
and after a warning is sealed.
"""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    SQLColumnExpression,
    and_,
    case,
    false,
    func,
    insert,
    literal,
    null,
    select,
    true,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.call.service import FEEDBACK_WINDOW
from app.db import seconds_between
from app.models.call import Call
from app.models.report import ReportRollup, Seconds
from app.models.warning import Warning, WarningRegion

# Sealed this long after the week ends, so that no write begun before the end is still running.
SEAL_MARGIN = timedelta(hours=1)
TOWNSHIP_DIGITS = 9
COLUMNS = [column.name for column in ReportRollup.__table__.columns]


def township_of(code: SQLColumnExpression[str]) -> ColumnElement[str]:
    """The township a code lies in, as its first nine digits (a county's own: its digits and 000)."""
    return func.substr(code, 1, TOWNSHIP_DIGITS)


def ack_seconds(postgres: bool) -> ColumnElement[float]:
    """Seconds from a call to its answer (CONTRACT: `acknowledged_at - created_at`)."""
    return seconds_between(Call.acknowledged_at, Call.created_at, postgres=postgres)


def counted(warnings: Any, *, postgres: bool, where: Any = lambda township: []) -> list[Select[Any]]:
    """Rollup rows of the given warnings counted from their rows: one select over their alert
    calls, one over their targeted regions, each with all of ReportRollup's columns (a township
    may appear in both). `where(code)` adds conditions on a code's first nine digits (given the
    whole code, so that the planner can use its statistics)."""
    answered = Call.acknowledged_at.is_not(None)
    call_township = township_of(Call.contact_region_code)
    times = (func.array_agg if postgres else func.json_group_array)(ack_seconds(postgres)).filter(answered)
    calls = (
        _labelled(
            Call.warning_id,
            call_township,
            func.count(),
            func.count(Call.acknowledged_at),
            func.count(Call.acknowledged_at).filter(Call.late.is_(false())),
            func.count(Call.acknowledged_at).filter(Call.feedback_count > 0),
            type_coerce(times, Seconds),
            literal(0),
            literal(0),
            literal(0),
        )
        .where(Call.warning_id.in_(warnings), Call.kind == "alert", *where(Call.contact_region_code))
        .group_by(Call.warning_id, call_township)
    )
    region_township = township_of(WarningRegion.region_code)
    regions = (
        _labelled(
            WarningRegion.warning_id,
            region_township,
            literal(0),
            literal(0),
            literal(0),
            literal(0),
            type_coerce(null(), Seconds),
            func.count(),
            func.count().filter(WarningRegion.state == "reached"),
            func.count(WarningRegion.escalated_at),
        )
        .where(WarningRegion.warning_id.in_(warnings), *where(WarningRegion.region_code))
        .group_by(WarningRegion.warning_id, region_township)
    )
    return [calls, regions]


CALL_FIGURES = ["calls", "acknowledged", "in_time", "with_feedback"]
REGION_FIGURES = ["targeted_regions", "reached_regions", "escalated_regions"]


def answers_one_a_row(sealed: Any, unsealed: Any, *, where: Any) -> list[Select[Any]]:
    """The calls' figures for one aggregate on PostgreSQL (warning_id, code, CALL_FIGURES, seconds),
    each row with at most one answer time: the sealed warnings' rollup rows, then their answer times
    unnested one a row (nothing else on those rows), and the other warnings' alert calls one row
    each. Counting these calls straight, rather than rolled up on the fly, spares a warning of a
    million calls from building arrays only to unnest them."""
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
        Call.warning_id, Call.contact_region_code, literal(1), _one_if(answered),
        _one_if(answered, Call.late.is_(false())), _one_if(answered, Call.feedback_count > 0), ack_seconds(True),
    ).where(Call.warning_id.in_(unsealed), Call.kind == "alert", *where(Call.contact_region_code))  # fmt: skip
    return [counts, answer_times, calls]


def regions_one_a_row(sealed: Any, unsealed: Any, *, where: Any) -> list[Select[Any]]:
    """The targeted regions' figures (code, REGION_FIGURES): the sealed warnings' rollup rows and
    the other warnings' regions one row each."""
    rollup = ReportRollup.__table__.c
    stored = select(rollup.township_digits.label("code"), *(rollup[name] for name in REGION_FIGURES)).where(
        rollup.warning_id.in_(sealed), *where(rollup.township_digits)
    )
    regions = select(
        WarningRegion.region_code, literal(1), _one_if(WarningRegion.state == "reached"),
        _one_if(WarningRegion.escalated_at.is_not(None)),
    ).where(WarningRegion.warning_id.in_(unsealed), *where(WarningRegion.region_code))  # fmt: skip
    return [stored, regions]


def _one_if(*conditions: Any) -> ColumnElement[int]:
    return case((and_(*conditions), 1), else_=0)


def _labelled(*values: Any) -> Select[Any]:
    return select(*(value.label(name) for value, name in zip(values, COLUMNS, strict=True)))


def stored(warnings: Any, *, where: Any) -> Select[Any]:
    """The stored rollup rows of the given (sealed) warnings."""
    rollup = ReportRollup.__table__.c
    return select(*(rollup[name] for name in COLUMNS)).where(
        rollup.warning_id.in_(warnings), *where(rollup.township_digits)
    )


async def seal_due(session: AsyncSession, *, now: datetime) -> str | None:
    """Seal one warning whose week has ended: `sealed_at` set and its rollup rows stored, in the
    caller's transaction; returns its id (None when none is due). Processes side by side each take
    another warning (SKIP LOCKED)."""
    due = (
        select(Warning.id)
        .where(Warning.sealed_at.is_(None), Warning.closed_at < now - FEEDBACK_WINDOW - SEAL_MARGIN)
        .order_by(Warning.closed_at)
        .limit(1)
        .with_for_update(skip_locked=True, key_share=True)
    )
    warning_id = await session.scalar(due)
    if warning_id is None:
        return None
    parts = union_all(*counted([warning_id], postgres=session.bind.dialect.name == "postgresql")).subquery()
    keys = [parts.c.warning_id, parts.c.township_digits]
    # A township's calls and its regions come from two selects: one row each, summed (only the
    # calls' row has times).
    figures = [func.max(parts.c[name]) if name == "ack_seconds" else func.sum(parts.c[name]) for name in COLUMNS[2:]]
    rows = select(*keys, *figures).group_by(*keys)
    sealing = update(Warning).where(Warning.id == warning_id, Warning.sealed_at.is_(None)).values(sealed_at=now)
    if (await session.execute(sealing.returning(Warning.id))).scalar() is None:
        return None  # sealed by another process meanwhile
    await session.execute(insert(ReportRollup).from_select(COLUMNS, rows))
    return str(warning_id)
