"""Hazard figures for auditors (`GET /api/v1/reports/hazards`): per county or township, how many
reports, how many taken and how fast (接报), how many whistled and how fast the departments reported
in (报到), how many resolved and how fast, and the share of judged reports the reporter was
satisfied with (末端评价). Reports fall in the period by when they were made, `[since, until)`.

Reports are few beside calls (a county's year is hundreds), so the period's reports of the subtree
are read and counted here, grouped by the digits of their region's code as the response report is.
"""

import statistics
from collections import defaultdict
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.hazard.db import seconds_between
from app.models.hazard import Hazard, HazardDispatch
from app.models.region import Region


@dataclass
class HazardRow:
    region_code: str
    name: str
    reports: int = 0
    received: int = 0
    median_receive_s: float | None = None
    dispatched: int = 0
    median_report_in_s: float | None = None
    resolved: int = 0
    median_resolve_s: float | None = None
    satisfied_rate: float | None = None


HAZARD_FIELDS = [f.name for f in fields(HazardRow)]
# Digits of a code naming its county or township; a report on a region above the grouping level
# (a county's own, in a township report) belongs to no row, as in the response report.
DIGITS = {"county": 6, "township": 9}
ABOVE = {6: 4, 9: 6}


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


async def hazard_rows(
    session: AsyncSession,
    *,
    prefix: str,
    since: datetime,
    until: datetime,
    group_by: str,
    after: str | None,
    fetch: int | None,
) -> list[HazardRow]:
    """The rows of the period's reports in the subtree whose codes start with `prefix`, by code."""
    digits = DIGITS[group_by]
    in_period = [Hazard.created_at >= since, Hazard.created_at < until]
    if prefix:
        in_period += [Hazard.region_code >= prefix, Hazard.region_code < prefix + ":"]
    # Durations worked out by the database, not times: a province's year is tens of thousands of
    # reports, and converting their times here took longer than the query.
    columns = select(
        Hazard.id, Hazard.region_code, seconds_between(session, Hazard.received_at, Hazard.created_at),
        seconds_between(session, Hazard.resolved_at, Hazard.created_at), Hazard.rating,
    ).where(*in_period)  # fmt: skip
    groups: dict[str, list[Any]] = defaultdict(list)
    for hazard in (await session.execute(columns)).all():
        if hazard.region_code[ABOVE[digits] : digits].strip("0"):
            groups[hazard.region_code[:digits].ljust(12, "0")].append(hazard)
    codes = sorted(code for code in groups if after is None or code > after)
    if fetch is not None:
        codes = codes[:fetch]
    if not codes:
        return []
    dispatches: dict[str, list[Any]] = defaultdict(list)
    report_in = seconds_between(session, HazardDispatch.reported_in_at, HazardDispatch.created_at)
    whistles = select(HazardDispatch.hazard_id, report_in).join(Hazard, Hazard.id == HazardDispatch.hazard_id)
    for hazard_id, seconds in (await session.execute(whistles.where(*in_period))).tuples():
        dispatches[hazard_id].append(seconds)
    names = dict((await session.execute(select(Region.code, Region.name).where(Region.code.in_(codes)))).tuples().all())
    return [_row(code, names.get(code, code), groups[code], dispatches) for code in codes]


def _row(code: str, name: str, hazards: list[Any], dispatches: dict[str, list[float | None]]) -> HazardRow:
    """One region's figures from its reports as (id, region, seconds to take, seconds to resolve,
    rating), and each whistled report's seconds to report in per department (None: not yet)."""
    received = [h[2] for h in hazards if h[2] is not None]
    resolved = [h[3] for h in hazards if h[3] is not None]
    whistled = [h for h in hazards if h[0] in dispatches]
    report_in = [seconds for h in whistled for seconds in dispatches[h[0]] if seconds is not None]
    judged = [h[4] for h in hazards if h[4] is not None]
    satisfied = judged.count("satisfied")
    return HazardRow(
        region_code=code, name=name, reports=len(hazards), received=len(received),
        median_receive_s=_median(received), dispatched=len(whistled), median_report_in_s=_median(report_in),
        resolved=len(resolved), median_resolve_s=_median(resolved),
        satisfied_rate=round(satisfied / len(judged), 4) if judged else None,
    )  # fmt: skip
