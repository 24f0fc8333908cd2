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

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.hazard.models import Hazard, HazardDispatch
from app.region.models import Region


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


def _seconds(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds()


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
    query = select(Hazard).where(Hazard.created_at >= since, Hazard.created_at < until)
    if prefix:
        query = query.where(Hazard.region_code >= prefix, Hazard.region_code < prefix + ":")
    hazards = [h for h in await session.scalars(query) if h.region_code[ABOVE[digits] : digits].strip("0")]
    groups: dict[str, list[Hazard]] = defaultdict(list)
    for hazard in hazards:
        groups[hazard.region_code[:digits].ljust(12, "0")].append(hazard)
    codes = sorted(code for code in groups if after is None or code > after)
    if fetch is not None:
        codes = codes[:fetch]
    if not codes:
        return []
    ids = [h.id for code in codes for h in groups[code]]
    dispatches: dict[str, list[HazardDispatch]] = defaultdict(list)
    for start in range(0, len(ids), 1000):
        chunk = select(HazardDispatch).where(HazardDispatch.hazard_id.in_(ids[start : start + 1000]))
        for dispatch in await session.scalars(chunk):
            dispatches[dispatch.hazard_id].append(dispatch)
    names = dict((await session.execute(select(Region.code, Region.name).where(Region.code.in_(codes)))).tuples().all())
    return [_row(code, names.get(code, code), groups[code], dispatches) for code in codes]


def _row(code: str, name: str, hazards: list[Hazard], dispatches: dict[str, list[HazardDispatch]]) -> HazardRow:
    received = [h for h in hazards if h.received_at is not None]
    resolved = [h for h in hazards if h.resolved_at is not None]
    whistled = [h for h in hazards if dispatches.get(h.id)]
    report_in = [
        _seconds(d.reported_in_at, d.created_at)
        for h in whistled
        for d in dispatches[h.id]
        if d.reported_in_at is not None
    ]
    judged = [h for h in hazards if h.rating is not None]
    satisfied = sum(1 for h in judged if h.rating == "satisfied")
    return HazardRow(
        region_code=code, name=name, reports=len(hazards), received=len(received),
        median_receive_s=_median([_seconds(h.received_at, h.created_at) for h in received if h.received_at]),
        dispatched=len(whistled), median_report_in_s=_median(report_in), resolved=len(resolved),
        median_resolve_s=_median([_seconds(h.resolved_at, h.created_at) for h in resolved if h.resolved_at]),
        satisfied_rate=round(satisfied / len(judged), 4) if judged else None,
    )  # fmt: skip
