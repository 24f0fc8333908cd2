"""Charts for the report page, drawn as inline SVG by the template from the geometry computed here:
how long people took to answer, the share of targeted regions reached per county or township, and
the chain upward (reports made, taken, whistled, resolved, and how fast each region took them)."""

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.hazard.calls import TO_RECEIVE_S
from app.hazard.figures import HazardRow
from app.models.call import Call
from app.models.report import ReportRollup
from app.models.warning import Warning
from app.report import db as report_db
from app.report.coverage import Coverage, region_prefix, warnings_of
from app.report.service import ResponseRow
from app.web.render import duration

# Upper bounds in seconds of the answer-time buckets, with their labels; then never answered.
BUCKETS = ((60, "1分钟内"), (120, "1–2分钟"), (300, "2–5分钟"), (600, "5–10分钟"), (1800, "10–30分钟"),
           (3600, "30–60分钟"), (None, "1小时以上"))  # fmt: skip
NEVER = "未应答"
RATE_BARS = 40  # at most this many bars; with more rows, the lowest shares (the ones to look at)


@dataclass
class Bar:
    label: str
    value: float
    text: str
    x: float = 0
    y: float = 0
    width: float = 0
    height: float = 0
    warn: bool = False


async def ack_times(session: AsyncSession, coverage: Coverage) -> list[tuple[str, int]]:
    """Alert calls of the covered warnings by time to acknowledge, in buckets, and those never
    answered: counted from the calls of warnings still open, from the rollups of sealed ones."""
    prefix = region_prefix(coverage.region)
    warnings = select(Warning.id).where(*warnings_of(coverage))
    seconds = report_db.ack_seconds(session)
    whens: list[Any] = [(Call.acknowledged_at.is_(None), len(BUCKETS))]
    whens += [(seconds <= bound, index) for index, (bound, _) in enumerate(BUCKETS) if bound is not None]
    bucket = case(*whens, else_=len(BUCKETS) - 1).label("bucket")
    open_calls = (
        select(bucket, func.count())
        .where(Call.warning_id.in_(warnings.where(Warning.sealed_at.is_(None)).scalar_subquery()))
        .where(Call.kind == "alert", Call.contact_region_code.startswith(prefix))
        .group_by(bucket)
    )
    counts = Counter(dict((await session.execute(open_calls)).tuples().all()))
    sealed = select(ReportRollup.calls - ReportRollup.acknowledged, ReportRollup.ack_seconds).where(
        ReportRollup.warning_id.in_(warnings.scalar_subquery()), ReportRollup.township_digits.startswith(prefix)
    )
    bounds = [bound for bound, _ in BUCKETS if bound is not None]
    for never, times in (await session.execute(sealed)).tuples():
        counts[len(BUCKETS)] += never
        counts.update(bisect_left(bounds, value) for value in times or [])
    labels = [label for _, label in BUCKETS] + [NEVER]
    return [(label, int(counts.get(index, 0))) for index, label in enumerate(labels)]


def columns(values: list[tuple[str, int]], *, width: float = 640, height: float = 200) -> list[Bar]:
    """Vertical bars side by side, scaled to the largest; the last bucket (never answered) stands out."""
    top = max((count for _, count in values), default=0) or 1
    step = width / max(len(values), 1)
    bars = []
    for index, (label, count) in enumerate(values):
        bar_height = height * count / top
        bars.append(Bar(label=label, value=count, text=str(count), x=index * step + step * 0.15, y=height - bar_height,
                        width=step * 0.7, height=bar_height, warn=label == NEVER))  # fmt: skip
    return bars


def reached_rows(rows: list[ResponseRow], *, width: float = 360, row_height: float = 34) -> list[Bar]:
    """Horizontal bars of the share of targeted regions reached, one per row of the report."""
    rated = [row for row in rows if row.targeted_regions]
    if len(rated) > RATE_BARS:
        rated = sorted(rated, key=lambda row: (row.reached_rate or 0, row.region_code))[:RATE_BARS]
    bars = []
    for index, row in enumerate(rated):
        share = row.reached_rate or 0.0
        text = f"{share * 100:.1f}%（{row.reached_regions}/{row.targeted_regions}）"
        bars.append(Bar(label=row.name or row.region_code, value=share, text=text, x=0, y=index * row_height + 6,
                        width=width * share, height=row_height - 12, warn=share < 1))  # fmt: skip
    return bars


def hazard_chain(rows: list[HazardRow]) -> list[Bar]:
    """The chain upward as columns: reports made, taken (接报), whistled (吹哨) and resolved (办结);
    fewer taken or resolved than made stands out."""
    made = sum(row.reports for row in rows)
    steps = [("上报", made), ("接报", sum(row.received for row in rows)), ("吹哨", sum(row.dispatched for row in rows)),
             ("办结", sum(row.resolved for row in rows))]  # fmt: skip
    bars = columns(steps, width=400)
    for bar in bars:
        bar.warn = bar.label in ("接报", "办结") and bar.value < made
        if bar.value == 0:  # none at all, the worst case: a sliver to see, not nothing
            bar.y, bar.height = bar.y - 3, 3
    return bars


def receive_times(rows: list[HazardRow], *, width: float = 300, row_height: float = 34) -> list[Bar]:
    """Horizontal bars of the median time to take a report (接报), one per row that took any, the
    slowest first; past the hour an ordinary report has to be taken, they stand out."""
    timed = sorted(
        (row for row in rows if row.median_receive_s is not None), key=lambda row: -(row.median_receive_s or 0)
    )
    timed = timed[:RATE_BARS]
    top = max((row.median_receive_s or 0 for row in timed), default=0) or 1
    bars = []
    for index, row in enumerate(timed):
        seconds = row.median_receive_s or 0
        bars.append(Bar(label=row.name or row.region_code, value=seconds, text=duration(seconds), x=0,
                        y=index * row_height + 6, width=width * seconds / top, height=row_height - 12,
                        warn=seconds > TO_RECEIVE_S[False]))  # fmt: skip
    return bars
