"""What a report covers: warnings of one mode issued in a period, inside a region, grouped by county or township."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, or_

from app.errors import Unprocessable
from app.models.region import LEVEL_RANK, Region
from app.models.warning import Warning

GroupBy = Literal["county", "township"]
ReportMode = Literal["actual", "exercise"]
# Digits of a statistical code that name a region's ancestor at each level; the rest are zeros.
SIGNIFICANT_DIGITS = {"province": 2, "prefecture": 4, "county": 6, "township": 9, "village": 12}
DEFAULT_PERIOD = timedelta(days=30)


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
