"""Reports for auditors: response figures per county or township, the regions never reached, and a
warning's calls for the file. JSON pages, or the whole of it as CSV (`?format=csv`)."""

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from app.auth.dependencies import require_role
from app.auth.scope import ensure_covers
from app.auth.service import Principal
from app.db import SessionDep, session_scope, utc_now
from app.errors import Unprocessable
from app.hazard import figures
from app.hazard.figures import HazardRow
from app.paging import Page, PageDep, make_page
from app.region import service as region_service
from app.report import export, unreached
from app.report import service as report_service
from app.report.coverage import Coverage, GroupBy, ReportMode, check_grouping, region_prefix, resolve_period
from app.report.cursors import code_cursor, pair_cursor
from app.report.service import ResponseRow
from app.report.unreached import UnreachedRow
from app.times import Moment
from app.warning.dependencies import WarningDep

router = APIRouter(prefix="/api/v1", tags=["reports"])
ReaderDep = Annotated[Principal, Depends(require_role("auditor", "duty_officer"))]
Format = Literal["json", "csv"]


async def report_coverage(
    session: SessionDep,
    principal: ReaderDep,
    since: Annotated[Moment | None, Query(description="Issued from (inclusive); default until - 30 days.")] = None,
    until: Annotated[Moment | None, Query(description="Issued before (exclusive); default now.")] = None,
    region_code: Annotated[str | None, Query(max_length=12, description="The subtree; default the key's.")] = None,
    mode: Annotated[str, Query(max_length=10, description="actual (default) or exercise; never test.")] = "actual",
) -> Coverage:
    """Which warnings and regions a report covers; 403 outside the caller's region."""
    if mode not in ("actual", "exercise"):
        raise Unprocessable(
            f"mode {mode!r} is not reported: use actual or exercise (test warnings never count).",
            errors=[{"loc": ["query", "mode"], "msg": "must be actual or exercise"}],
        )
    code = region_service.require_code(region_code, ("query", "region_code")) if region_code else principal.region_code
    region = await region_service.get_region(session, code) if code else None
    if region is not None:
        ensure_covers(principal, region.path, region.code)
    period = resolve_period(since, until, now=utc_now())
    return Coverage(region=region, period=period, mode=cast(ReportMode, mode))


CoverageDep = Annotated[Coverage, Depends(report_coverage)]


def _csv(filename: str, header: Sequence[str], batches: AsyncIterator[Iterable[Sequence[Any]]]) -> StreamingResponse:
    return StreamingResponse(
        export.csv_document(header, batches),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/reports/response", response_model=Page[ResponseRow])
async def response_report(
    session: SessionDep,
    coverage: CoverageDep,
    page: PageDep,
    group_by: Annotated[GroupBy, Query()] = "county",
    format: Annotated[Format, Query()] = "json",
) -> Any:
    """How the chain held per county or township: warnings, alert calls, acknowledgements and how
    fast, regions reached and escalated, feedback. Actual and exercise warnings are reported apart."""
    check_grouping(coverage.region, group_by)
    if format == "csv":

        async def rows() -> AsyncIterator[list[list[Any]]]:
            async with session_scope(read_only=True) as reading:
                async for batch in report_service.stream_response_rows(reading, coverage, group_by):
                    yield [list(asdict(row).values()) for row in batch]

        return _csv(f"response-{group_by}.csv", report_service.ROW_FIELDS, rows())
    found = await report_service.response_rows(
        session, coverage, group_by, after=code_cursor(page.cursor), fetch=page.fetch
    )
    return make_page(found, page, key=lambda row: row.region_code, item=lambda row: row)


@router.get("/reports/hazards", response_model=Page[HazardRow])
async def hazard_report(
    session: SessionDep,
    coverage: CoverageDep,
    page: PageDep,
    group_by: Annotated[GroupBy, Query()] = "county",
    format: Annotated[Format, Query()] = "json",
) -> Any:
    """The chain upward per county or township: reports, taken (接报) and how fast, whistled and how
    fast the departments reported in (报到), resolved and how fast, and the satisfied share."""
    check_grouping(coverage.region, group_by)
    prefix, since, until = region_prefix(coverage.region), coverage.period.since, coverage.period.until
    if format == "csv":

        async def rows() -> AsyncIterator[list[list[Any]]]:
            async with session_scope(read_only=True) as reading:
                found = await figures.hazard_rows(
                    reading, prefix=prefix, since=since, until=until, group_by=group_by, after=None, fetch=None
                )
                yield [list(asdict(row).values()) for row in found]

        return _csv(f"hazards-{group_by}.csv", figures.HAZARD_FIELDS, rows())
    found = await figures.hazard_rows(
        session,
        prefix=prefix,
        since=since,
        until=until,
        group_by=group_by,
        after=code_cursor(page.cursor),
        fetch=page.fetch,
    )
    return make_page(found, page, key=lambda row: row.region_code, item=lambda row: row)


@router.get("/reports/unreached", response_model=Page[UnreachedRow])
async def unreached_report(
    session: SessionDep, coverage: CoverageDep, page: PageDep, format: Annotated[Format, Query()] = "json"
) -> Any:
    """The targeted regions of the period's warnings that were never reached, by warning."""
    if format == "csv":

        async def rows() -> AsyncIterator[list[list[Any]]]:
            async with session_scope(read_only=True) as reading:
                async for batch in unreached.stream_unreached_regions(reading, coverage):
                    yield [[_cell(value) for value in asdict(row).values()] for row in batch]

        return _csv("unreached-regions.csv", unreached.UNREACHED_FIELDS, rows())
    found = await unreached.unreached_regions(session, coverage, after=pair_cursor(page.cursor), fetch=page.fetch)
    return make_page(found, page, key=lambda row: f"{row.warning_id}:{row.region_code}", item=lambda row: row)


@router.get("/warnings/{warning_id}/export.csv", response_class=StreamingResponse)
async def export_calls(warning: WarningDep, principal: ReaderDep) -> StreamingResponse:
    """Every call of the warning (in the caller's region) for the file: the person, each attempt's
    time, channel and delivery, the answer and how, and the feedback. Times in 北京时间."""
    return export.warning_calls_file(warning.id, principal)


def _cell(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
