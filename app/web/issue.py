"""Issuing and updating a warning from a form: the area picker, the preview of the fan-out (a dry
run: who will be called, which regions have nobody on record), then the warning itself.

Works without JavaScript: the form's buttons search, preview and issue by posting the form. With
it, the picker searches as the person types and the preview follows every change. Nothing is sent
until the person has seen the preview of exactly what they send."""

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import Principal
from app.db import SessionDep, utc_now
from app.errors import Forbidden, Unprocessable
from app.models.region import Region
from app.models.warning import Warning
from app.notify import providers
from app.region import service as region_service
from app.warning import lifecycle
from app.warning import service as warning_service
from app.warning.dependencies import wake_heartbeat
from app.warning.schemas import PreviewOut, WarningIn
from app.warning.service import ensure_writable
from app.web.forms import FIELD_MESSAGES, HAZARDS, WarningForm
from app.web.render import PageRoute, page, see_other, templates
from app.web.session import ActingPrincipal, CheckedForm, PagePrincipal

router = APIRouter(route_class=PageRoute, include_in_schema=False)  # under /console (app.web.router)
SEARCH_LIMIT = 20


def wake_sender(request: Request) -> None:
    """Send the new calls now rather than at the scheduler's next tick (runs after the commit)."""
    heartbeat = getattr(request.app.state, "heartbeat", None)
    if heartbeat is not None:
        heartbeat.wake_sender()


async def _describe(session: AsyncSession, regions: list[Region]) -> list[dict[str, str]]:
    places = await region_service.path_names(session, regions)
    return [{"code": r.code, "name": r.name, "level": r.level, "place": places.get(r.code, "")} for r in regions]


async def _chosen(session: AsyncSession, codes: list[str]) -> list[dict[str, str]]:
    """The picked areas with their names, in the order picked; an unknown code shows as itself."""
    found = await region_service.by_code(session, codes)
    described = {item["code"]: item for item in await _describe(session, list(found.values()))}
    return [described.get(code, {"code": code, "name": code, "level": "", "place": "未知区域"}) for code in codes]


@router.get("/regions")
async def search_regions(
    session: SessionDep, principal: PagePrincipal, q: Annotated[str, Query(max_length=50)] = ""
) -> JSONResponse:
    """The area picker's search: regions in the person's subtree by name or code, with where they lie."""
    if not q.strip():
        return JSONResponse({"items": []})
    within = principal.within
    regions = await region_service.search_regions(session, q, within=within, limit=SEARCH_LIMIT)
    return JSONResponse({"items": await _describe(session, regions)}, headers={"Cache-Control": "no-store"})


async def _preview(
    session: AsyncSession, form: WarningForm, principal: Principal
) -> tuple[PreviewOut | None, WarningIn | None]:
    """The dry run of the form as it stands; errors go into the form, field by field."""
    body = form.to_body()
    if body is None:
        return None, None
    try:
        return await warning_service.preview_warning(session, body, principal=principal, now=utc_now()), body
    except Unprocessable as error:
        _area_errors(form, error)
    except Forbidden:
        form.errors["area_codes"] = f"所选区域超出您的辖区（{principal.region_code}），请只选择辖区内的区域。"
    return None, None


def _area_errors(form: WarningForm, error: Unprocessable) -> None:
    unknown = [str(e["msg"]).split()[-1] for e in error.errors or [] if e["loc"][:2] == ["body", "area_codes"]]
    if unknown:
        form.errors["area_codes"] = f"以下区域代码不存在或已撤销：{'、'.join(unknown)}。"
    for e in error.errors or []:
        if e["loc"][:2] == ["body", "expires"]:
            form.errors["expires"] = FIELD_MESSAGES["expires"]
    if not form.errors:
        form.errors["form"] = error.detail


def _form_page(
    request: Request,
    form: WarningForm,
    chosen: list[dict[str, str]],
    *,
    preview: PreviewOut | None = None,
    results: list[dict[str, str]] | None = None,
    warning: Warning | None = None,
    message: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    context: dict[str, Any] = {
        "form": form, "chosen": chosen, "preview": preview, "results": results, "hazards": HAZARDS,
        "warning": warning, "message": message, "digest": form.digest() if preview else "",
        "action": f"/console/warnings/{warning.id}/update" if warning else "/console/warnings/new",
    }  # fmt: skip
    return page(request, "issue.html", context, status_code=status_code)


@router.get("/warnings/new", response_class=HTMLResponse)
async def new_warning(request: Request, session: SessionDep, principal: ActingPrincipal) -> HTMLResponse:
    """The form to issue a warning."""
    form = WarningForm(level="red")
    if principal.region_code:  # start from the person's own region, the most common choice
        form.area_codes = [principal.region_code]
    return _form_page(request, form, await _chosen(session, form.area_codes))


@router.get("/warnings/preview", response_class=HTMLResponse)
async def preview_panel(
    request: Request,
    session: SessionDep,
    principal: ActingPrincipal,
    level: str = "",
    exercise: str = "",
    area_codes: Annotated[list[str] | None, Query()] = None,
) -> HTMLResponse:
    """The preview panel for the form's current level, mode and areas (the page's script asks for it)."""
    form = WarningForm(level=level, exercise=exercise == "1", area_codes=area_codes or [], hazard="-", title="-")
    preview, _ = await _preview(session, form, principal)
    context = {"preview": preview, "form": form, "digest": form.digest()}
    response = templates.TemplateResponse(request, "_preview.html", context)
    response.headers["Cache-Control"] = "no-store"
    return response


async def _submit(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    data: CheckedForm,
    background: BackgroundTasks,
    warning: Warning | None,
) -> Response:
    """The form's three buttons: search for areas, preview, or issue (only what was previewed)."""
    form = WarningForm.from_form(data)
    action = data.get("action")
    if action == "search":
        query = str(data.get("q") or "").strip()
        within = principal.within
        found = await region_service.search_regions(session, query, within=within, limit=SEARCH_LIMIT) if query else []
        results = await _describe(session, found)
        return _form_page(request, form, await _chosen(session, form.area_codes), results=results, warning=warning)
    preview, body = await _preview(session, form, principal)
    chosen = await _chosen(session, form.area_codes)
    if preview is None or body is None:
        return _form_page(request, form, chosen, warning=warning, status_code=422)
    if action != "issue" or form.previewed != form.digest():
        message = (
            ""
            if action != "issue"
            else "请核对下方预览（将呼叫的人数和无责任人的区域），确认无误后再次点击“发布预警”。"
        )
        return _form_page(request, form, chosen, preview=preview, warning=warning, message=message)
    now = utc_now()
    fanout_above = request.app.state.settings.async_fanout_above
    if warning is None:
        issued, _ = await warning_service.issue_warning(
            session, body, principal=principal, idempotency_key=f"console:{form.request_key}", now=now,
            fanout_above=fanout_above,
        )  # fmt: skip
        done = "issued"
    else:
        issued = await lifecycle.update_warning(
            session, warning, body, principal=principal, now=now, fanout_above=fanout_above,
            plan=providers.plan(request.app.state.settings),
        )  # fmt: skip
        done = "updated"
    background.add_task(wake_heartbeat, request, issued.status)
    return see_other(f"/console/warnings/{issued.id}?done={done}")


@router.post("/warnings/new")
async def issue_warning(
    request: Request, session: SessionDep, principal: ActingPrincipal, data: CheckedForm, background: BackgroundTasks
) -> Response:
    """Search, preview or issue, by the button pressed."""
    return await _submit(request, session, principal, data, background, None)


@router.get("/warnings/{warning_id}/update", response_class=HTMLResponse)
async def update_form(warning_id: str, request: Request, session: SessionDep, principal: ActingPrincipal) -> Response:
    """The form filled in from the warning: the update supersedes it and calls afresh."""
    warning = await warning_service.get_warning(session, warning_id, principal)
    ensure_writable(principal, warning)
    form = WarningForm.from_warning(warning)
    return _form_page(request, form, await _chosen(session, form.area_codes), warning=warning)


@router.post("/warnings/{warning_id}/update")
async def update_warning(
    warning_id: str,
    request: Request,
    session: SessionDep,
    principal: ActingPrincipal,
    data: CheckedForm,
    background: BackgroundTasks,
) -> Response:
    """Search, preview or update, by the button pressed."""
    warning = await warning_service.get_warning(session, warning_id, principal)
    ensure_writable(principal, warning)
    return await _submit(request, session, principal, data, background, warning)
