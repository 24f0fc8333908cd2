"""A rollup row's figures by their definitions: stored for sealed warnings, counted from rows for the others."""

from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    SQLColumnExpression,
    and_,
    case,
    false,
    func,
    literal,
    null,
    select,
    type_coerce,
)

from app.models.call import Call
from app.models.report import ReportRollup, Seconds
from app.models.warning import WarningRegion

TOWNSHIP_DIGITS = 9
COLUMNS = [column.name for column in ReportRollup.__table__.columns]
CALL_FIGURES = ["calls", "acknowledged", "in_time", "with_feedback"]
REGION_FIGURES = ["targeted_regions", "reached_regions", "escalated_regions"]


def township_of(code: SQLColumnExpression[str]) -> ColumnElement[str]:
    """The township a code lies in, as its first nine digits (a county's own: its digits and 000)."""
    return func.substr(code, 1, TOWNSHIP_DIGITS)


def counted(warnings: Any, *, times: ColumnElement[Any], where: Any = lambda township: []) -> list[Select[Any]]:
    """Rollup rows of the given warnings counted from their rows: one select over their alert
    calls, one over their targeted regions, each with all of ReportRollup's columns (a township
    may appear in both). `times` lists the answered calls' answer times as the database keeps a
    list (report.db). `where(code)` adds conditions on a code's first nine digits (given the
    whole code, so that the planner can use its statistics)."""
    call_township = township_of(Call.contact_region_code)
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


def regions_one_a_row(sealed: Any, unsealed: Any, *, where: Any) -> list[Select[Any]]:
    """The targeted regions' figures (code, REGION_FIGURES): the sealed warnings' rollup rows and
    the other warnings' regions one row each."""
    rollup = ReportRollup.__table__.c
    stored = select(rollup.township_digits.label("code"), *(rollup[name] for name in REGION_FIGURES)).where(
        rollup.warning_id.in_(sealed), *where(rollup.township_digits)
    )
    regions = select(
        WarningRegion.region_code, literal(1), one_if(WarningRegion.state == "reached"),
        one_if(WarningRegion.escalated_at.is_not(None)),
    ).where(WarningRegion.warning_id.in_(unsealed), *where(WarningRegion.region_code))  # fmt: skip
    return [stored, regions]


def one_if(*conditions: Any) -> ColumnElement[int]:
    """1 where all the conditions hold, else 0: a row counted one at a time."""
    return case((and_(*conditions), 1), else_=0)


def _labelled(*values: Any) -> Select[Any]:
    return select(*(value.label(name) for value, name in zip(values, COLUMNS, strict=True)))


def stored(warnings: Any, *, where: Any) -> Select[Any]:
    """The stored rollup rows of the given (sealed) warnings."""
    rollup = ReportRollup.__table__.c
    return select(*(rollup[name] for name in COLUMNS)).where(
        rollup.warning_id.in_(warnings), *where(rollup.township_digits)
    )
