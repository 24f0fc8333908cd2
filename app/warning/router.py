"""Warning routes: issue, read, follow region by region, update, cancel, confirm, and the timeline."""

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Header, Query, Request, Response, status

from app.audit.schemas import EventOut
from app.auth.dependencies import DutyOfficerDep, PrincipalDep
from app.auth.scope import ensure_covers
from app.call.schemas import CallOut
from app.config import SettingsDep
from app.db import SessionDep, utc_now
from app.notify import providers
from app.paging import Page, PageDep, make_page, seq_cursor
from app.region import service as region_service
from app.times import Moment
from app.warning import lifecycle
from app.warning import lists as warning_lists
from app.warning import service as warning_service
from app.warning import timeline as warning_timeline
from app.warning.dependencies import WarningDep, wake_heartbeat
from app.warning.schemas import CancelIn, ConfirmIn, PreviewOut, RegionStateOut, WarningIn, WarningOut

router = APIRouter(prefix="/api/v1/warnings", tags=["warnings"])
IdempotencyKeyHeader = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=WarningOut)
async def issue_warning(
    data: WarningIn,
    request: Request,
    response: Response,
    background: BackgroundTasks,
    session: SessionDep,
    settings: SettingsDep,
    principal: DutyOfficerDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> WarningOut:
    """Issue a warning: every responsible person of the targeted regions gets an alert call. Above
    JIAOYING_ASYNC_FANOUT_ABOVE people: 202, status `expanding`, the calls stored in steps."""
    warning, created = await warning_service.issue_warning(
        session, data, principal=principal, idempotency_key=idempotency_key, now=utc_now(),
        fanout_above=settings.async_fanout_above,
    )  # fmt: skip
    if not created:
        response.status_code = status.HTTP_200_OK
    elif warning.status == "expanding":
        response.status_code = status.HTTP_202_ACCEPTED
    background.add_task(wake_heartbeat, request, warning.status)  # after the commit: the heartbeat sees it
    return await warning_service.warning_out(session, warning)


@router.post("/preview", response_model=PreviewOut)
async def preview_warning(data: WarningIn, session: SessionDep, principal: DutyOfficerDep) -> PreviewOut:
    """A dry run of issuing the same body: people to call, regions targeted and uncovered. Stores nothing."""
    return await warning_service.preview_warning(session, data, principal=principal, now=utc_now())


@router.get("", response_model=Page[WarningOut])
async def list_warnings(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    status_: Annotated[str | None, Query(alias="status", max_length=12)] = None,
    mode: Annotated[str | None, Query(max_length=10)] = None,
    since: Moment | None = None,
) -> Page[WarningOut]:
    """Warnings overlapping the caller's region, newest first."""
    rows = await warning_lists.list_warnings(
        session, principal=principal, status=status_, mode=mode, since=since, limit=page.fetch, cursor=page.cursor
    )
    items = [await warning_service.warning_out(session, w) for w in rows[: page.limit]]
    return Page[WarningOut](items=items, next_cursor=rows[page.limit - 1].id if len(rows) > page.limit else None)


@router.get("/{warning_id}", response_model=WarningOut)
async def get_warning(warning: WarningDep, session: SessionDep) -> WarningOut:
    """A warning with its call counts and regions reached."""
    return await warning_service.warning_out(session, warning)


@router.get("/{warning_id}/regions", response_model=Page[RegionStateOut])
async def list_regions(
    warning: WarningDep,
    session: SessionDep,
    page: PageDep,
    state: Annotated[str | None, Query(pattern="^(reached|unreached|uncovered|unreachable)$")] = None,
    level: Annotated[str | None, Query(max_length=12)] = None,
) -> Page[RegionStateOut]:
    """The targeted regions and whether anyone there has answered: the duty officer's board."""
    rows = await warning_lists.list_regions(
        session, warning, state=state, level=level, limit=page.fetch, cursor=page.cursor
    )
    return make_page(rows, page, key=lambda r: r.region_code, item=RegionStateOut.model_validate)


@router.post("/{warning_id}/regions/{code}/confirm", response_model=RegionStateOut)
async def confirm_region(
    warning: WarningDep, code: str, data: ConfirmIn, session: SessionDep, principal: DutyOfficerDep
) -> RegionStateOut:
    """Mark a targeted region reached by other means (a call outside the system, a visit)."""
    region = await region_service.get_region(session, code)
    ensure_covers(principal, region.path, region.code)
    confirmed = await lifecycle.confirm_region(session, warning, region.code, data, actor=principal.name, now=utc_now())
    return RegionStateOut.model_validate(confirmed)


@router.post("/{warning_id}/cancel", response_model=WarningOut)
async def cancel_warning(
    warning: WarningDep,
    data: CancelIn,
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    settings: SettingsDep,
    principal: DutyOfficerDep,
) -> WarningOut:
    """Cancel: open calls close and everyone notified is told (解除 lifted / 撤回 withdrawn)."""
    warning_service.ensure_writable(principal, warning)
    warning = await lifecycle.cancel_warning(
        session, warning, reason=data.reason, kind=data.kind, actor=principal.name, plan=providers.plan(settings),
        now=utc_now(),
    )  # fmt: skip
    background.add_task(wake_heartbeat, request, warning.status)
    return await warning_service.warning_out(session, warning)


@router.post("/{warning_id}/update", status_code=status.HTTP_201_CREATED, response_model=WarningOut)
async def update_warning(
    warning: WarningDep,
    data: WarningIn,
    request: Request,
    background: BackgroundTasks,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    principal: DutyOfficerDep,
) -> WarningOut:
    """Supersede a warning with a new one that calls afresh: 202 when it is expanded in steps."""
    warning_service.ensure_writable(principal, warning)
    new = await lifecycle.update_warning(
        session, warning, data, principal=principal, now=utc_now(), fanout_above=settings.async_fanout_above,
        plan=providers.plan(settings),
    )  # fmt: skip
    if new.status == "expanding":
        response.status_code = status.HTTP_202_ACCEPTED
    background.add_task(wake_heartbeat, request, new.status)
    return await warning_service.warning_out(session, new)


@router.get("/{warning_id}/calls", response_model=Page[CallOut])
async def list_calls(
    warning: WarningDep,
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    status_: Annotated[str | None, Query(alias="status", max_length=12)] = None,
    kind: Annotated[str | None, Query(pattern="^(alert|escalation)$")] = None,
) -> Page[CallOut]:
    """The warning's calls to people in the caller's region, by id."""
    rows = await warning_lists.list_calls(
        session, warning, principal, status=status_, kind=kind, after=page.cursor, limit=page.fetch
    )
    masked = principal.role == "auditor"
    return make_page(rows, page, key=lambda c: c.id, item=lambda c: CallOut.of(c, masked=masked))


@router.get("/{warning_id}/timeline", response_model=Page[EventOut])
async def timeline(warning: WarningDep, session: SessionDep, principal: PrincipalDep, page: PageDep) -> Page[EventOut]:
    """Everything that happened to the warning, in order."""
    rows = await warning_timeline.events(session, warning, principal, after=seq_cursor(page), limit=page.fetch)
    masked = principal.role == "auditor"
    names = await warning_timeline.contact_names(session, rows)
    return make_page(
        rows,
        page,
        key=lambda e: str(e.seq),
        item=lambda e: EventOut.of(e, masked=masked, contact_name=names.get(e.call_id or "")),
    )
