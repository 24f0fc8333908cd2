"""The auditors' pages: the response report of a period and region with its charts, the regions
never reached, and both as CSV (the API's files, here authorised by the session cookie)."""

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.scope import ensure_covers
from app.db import SessionDep, session_scope, utc_now
from app.errors import Unprocessable
from app.hazard import figures
from app.hazard.figures import HazardRow
from app.models.region import LEVEL_RANK
from app.region import service as region_service
from app.report import export
from app.report import service as report_service
from app.report.coverage import Coverage, GroupBy, ReportMode, check_grouping, region_prefix, resolve_period
from app.report.unreached import UNREACHED_FIELDS, unreached_regions
from app.times import BEIJING, EARLIEST, LATEST
from app.web import charts
from app.web.render import PageRoute, page
from app.web.session import PagePrincipal

router = APIRouter(route_class=PageRoute, include_in_schema=False)  # under /console (app.web.router)
ROWS_MAX = 500
UNREACHED_MAX = 200


@dataclass
class ReportQuery:
    """The report form as submitted (dates are days in 北京时间, both included)."""

    since: date
    until: date
    region_code: str
    group_by: GroupBy
    mode: ReportMode
    coverage: Coverage

    def query_string(self) -> str:
        return urlencode({"since": self.since.isoformat(), "until": self.until.isoformat(),
                          "region_code": self.region_code, "group_by": self.group_by, "mode": self.mode})  # fmt: skip


async def report_query(
    session: SessionDep,
    principal: PagePrincipal,
    since: Annotated[date | None, Query()] = None,
    until: Annotated[date | None, Query()] = None,
    region_code: Annotated[str | None, Query(max_length=12)] = None,
    group_by: Annotated[str | None, Query(max_length=10)] = None,
    mode: Annotated[str, Query(max_length=10)] = "actual",
) -> ReportQuery:
    """The period (default the last 30 days), the region (default the person's) and the grouping
    (counties, or townships when the region is a county or below)."""
    today = utc_now().astimezone(BEIJING).date()
    until = until or today
    since = since or until - timedelta(days=29)
    if since > until:
        raise Unprocessable("开始日期不能晚于结束日期。")
    if not (EARLIEST.date() <= since and until < LATEST.date()):
        raise Unprocessable("日期须在1970年至2199年之间。")
    if mode not in ("actual", "exercise"):
        raise Unprocessable("只能统计正式预警或演练（测试预警不计入）。")
    code = region_service.require_code(region_code, ("query", "region_code")) if region_code else principal.region_code
    region = await region_service.get_region(session, code) if code else None
    if region is not None:
        ensure_covers(principal, region.path, region.code)
    if group_by not in ("county", "township"):
        group_by = "township" if region is not None and LEVEL_RANK[region.level] >= LEVEL_RANK["county"] else "county"
    period = resolve_period(
        datetime.combine(since, time(), BEIJING), datetime.combine(until + timedelta(days=1), time(), BEIJING),
        now=utc_now(),
    )  # fmt: skip
    check_grouping(region, cast(GroupBy, group_by))
    coverage = Coverage(region=region, period=period, mode=cast(ReportMode, mode))
    return ReportQuery(since, until, region.code if region else "", cast(GroupBy, group_by), cast(ReportMode, mode),
                       coverage)  # fmt: skip


ReportQueryDep = Annotated[ReportQuery, Depends(report_query)]


@router.get("/reports", response_class=HTMLResponse)
async def report_page(request: Request, session: SessionDep, report: ReportQueryDep) -> HTMLResponse:
    """How the chain held in a period and region: figures per county or township, answer times and
    regions reached as charts, and the regions nobody reached."""
    rows = await report_service.response_rows(session, report.coverage, report.group_by, fetch=ROWS_MAX + 1)
    hazard_rows = await _hazard_rows(session, report, fetch=None)  # reports are few: totals count them all
    times = await charts.ack_times(session, report.coverage)
    unreached = await unreached_regions(session, report.coverage, fetch=UNREACHED_MAX + 1)
    region = report.coverage.region
    totals = {
        "calls": sum(row.calls for row in rows[:ROWS_MAX]),
        "acknowledged": sum(row.acknowledged for row in rows[:ROWS_MAX]),
        "targeted": sum(row.targeted_regions for row in rows[:ROWS_MAX]),
        "reached": sum(row.reached_regions for row in rows[:ROWS_MAX]),
    }
    context: dict[str, Any] = {
        "report": report,
        "region_name": region.name if region else "全国",
        "rows": rows[:ROWS_MAX],
        "more_rows": len(rows) > ROWS_MAX,
        "totals": totals,
        "answered": sum(count for label, count in times if label != charts.NEVER),
        "time_bars": charts.columns(times),
        "rate_bars": charts.reached_rows(rows[:ROWS_MAX]),
        "many_rows": len([row for row in rows if row.targeted_regions]) > charts.RATE_BARS,
        "hazard_rows": hazard_rows[:ROWS_MAX],
        "more_hazard_rows": len(hazard_rows) > ROWS_MAX,
        "hazard_totals": _hazard_totals(hazard_rows),
        "chain_bars": charts.hazard_chain(hazard_rows),
        "receive_bars": charts.receive_times(hazard_rows[:ROWS_MAX]),
        "unreached": unreached[:UNREACHED_MAX],
        "more_unreached": len(unreached) > UNREACHED_MAX,
        "query": report.query_string(),
    }
    return page(request, "reports.html", context)


async def _hazard_rows(session: AsyncSession, report: ReportQuery, *, fetch: int | None) -> list[HazardRow]:
    """The chain upward in the report's period and region (reports are no warnings: the mode does not apply)."""
    coverage = report.coverage
    return await figures.hazard_rows(
        session, prefix=region_prefix(coverage.region), since=coverage.period.since,
        until=coverage.period.until, group_by=report.group_by, after=None, fetch=fetch,
    )  # fmt: skip


def _hazard_totals(rows: list[HazardRow]) -> dict[str, int]:
    return {name: sum(getattr(row, name) for row in rows) for name in ("reports", "received", "dispatched", "resolved")}


def _csv(filename: str, header: Sequence[str], batches: AsyncIterator[Iterable[Sequence[Any]]]) -> StreamingResponse:
    return StreamingResponse(
        export.csv_document(header, batches),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


@router.get("/reports/response.csv")
async def response_csv(report: ReportQueryDep) -> StreamingResponse:
    """The response report as CSV (UTF-8 with BOM), the same file as the API's ?format=csv."""

    async def rows() -> AsyncIterator[list[list[Any]]]:
        async with session_scope(read_only=True) as reading:
            async for batch in report_service.stream_response_rows(reading, report.coverage, report.group_by):
                yield [list(asdict(row).values()) for row in batch]

    return _csv(f"response-{report.group_by}.csv", report_service.ROW_FIELDS, rows())


@router.get("/reports/hazards.csv")
async def hazards_csv(report: ReportQueryDep) -> StreamingResponse:
    """The hazard figures as CSV, the same file as the API's GET /api/v1/reports/hazards?format=csv."""

    async def rows() -> AsyncIterator[list[list[Any]]]:
        async with session_scope(read_only=True) as reading:
            yield [list(asdict(row).values()) for row in await _hazard_rows(reading, report, fetch=None)]

    return _csv(f"hazards-{report.group_by}.csv", figures.HAZARD_FIELDS, rows())


@router.get("/reports/unreached.csv")
async def unreached_csv(report: ReportQueryDep) -> StreamingResponse:
    """The regions never reached as CSV, the same file as the API's."""

    async def rows() -> AsyncIterator[list[list[Any]]]:
        after = None
        async with session_scope(read_only=True) as reading:
            while batch := await unreached_regions(reading, report.coverage, after=after, fetch=1000):
                yield [[_cell(value) for value in asdict(row).values()] for row in batch]
                after = (batch[-1].warning_id, batch[-1].region_code)

    return _csv("unreached-regions.csv", UNREACHED_FIELDS, rows())


def _cell(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
