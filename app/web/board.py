"""A warning's pages: the call board (regions by state, the people not yet answered, regions to
confirm, feedback, cancel), the actions taken from it, its timeline, and its calls as CSV."""

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from fastapi.responses import HTMLResponse, StreamingResponse
from pydantic import ValidationError

from app.audit.schemas import EventOut
from app.auth import scope
from app.auth.scope import ensure_covers
from app.broadcast import service as broadcast_service
from app.call import service as call_service
from app.call.schemas import ManualAckIn
from app.config import SettingsDep
from app.db import SessionDep, utc_now
from app.errors import Forbidden, Unprocessable
from app.models.warning import OPEN_STATUSES as OPEN_WARNING
from app.notify import call_now as call_now_service
from app.notify import providers
from app.phones import mask
from app.region import service as region_service
from app.report import export
from app.warning import lifecycle
from app.warning import service as warning_service
from app.warning import timeline as warning_timeline
from app.warning.schemas import CancelIn, ConfirmIn
from app.warning.service import ensure_writable
from app.web import live
from app.web import service as web_service
from app.web.events import EVENT_NAMES, describe
from app.web.issue import wake_sender
from app.web.render import PageRoute, page, see_other
from app.web.session import ActingPrincipal, CheckedForm, PagePrincipal, can_act

router = APIRouter(route_class=PageRoute, include_in_schema=False)  # under /console (app.web.router)
DONE = {"issued": "预警已发布，正在呼叫。", "updated": "预警已更新，新预警正在重新呼叫。", "ack": "已登记应答。",
        "confirmed": "已确认该区域。", "cancelled": "预警已结束，已通知已呼叫的人员。",
        "called": "已一键呼叫所有尚未应答的人员（有语音的打电话，其余发短信）。",
        "called_again": "一分钟内已一键呼叫过，本次未重复呼叫。"}  # fmt: skip
TIMELINE_PAGE = 500


def _board_url(warning_id: str, done: str, county: str = "", anchor: str = "") -> str:
    query = urlencode({k: v for k, v in (("done", done), ("county", county)) if v})
    return f"/console/warnings/{warning_id}?{query}{anchor}"


def _form_text(data: CheckedForm, name: str) -> str:
    value = data.get(name)
    return value if isinstance(value, str) else ""


@router.get("/warnings/{warning_id}", response_class=HTMLResponse)
async def board(
    warning_id: str,
    request: Request,
    session: SessionDep,
    principal: PagePrincipal,
    settings: SettingsDep,
    county: Annotated[str | None, Query(max_length=12)] = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    """The call board: regions coloured by state (live), the people not yet answered, the regions to
    confirm, the feedback, and the warning's own actions."""
    warning = await warning_service.get_warning(session, warning_id, principal)
    grid = await web_service.board(session, warning, county)
    silent, silent_total = await web_service.silent_calls(session, warning, principal)
    masked = principal.role == "auditor"
    people = [
        {"call": call, "phone": mask(call.contact_phone) if masked else call.contact_phone}
        for call in silent
    ]  # fmt: skip
    live_query = urlencode({"county": grid.county or "", "regions": 0 if grid.counties else 1})
    context: dict[str, Any] = {
        "warning": warning,
        "out": await warning_service.warning_out(session, warning),
        "counts": await live.summary(session, warning),
        "grid": grid,
        "speakers": await broadcast_service.board_marks(session, warning.id),
        "people": people,
        "silent_total": silent_total,
        "names": await web_service.region_names(session, warning, silent),
        "feedback": await web_service.feedback_received(session, warning, principal),
        "replies": await web_service.replies_received(session, warning, principal),
        "held": await web_service.held_back(session, silent, now=utc_now()),
        "to_confirm": await web_service.regions_to_confirm(session, warning, principal),
        "writable": can_act(principal) and scope.covers_warning(principal, warning),
        "is_open": warning.status in OPEN_WARNING,
        "masked": masked,
        "done": DONE.get(done or "", ""),
        "done_at": {"ack": "people", "confirmed": "confirm", "called": "people", "called_again": "people"}.get(
            done or "", "top"
        ),
        "live_url": f"/console/warnings/{warning.id}/live?{live_query}",
        "channel_alerts": await web_service.channel_alerts(settings),
    }
    return page(request, "board.html", context)


@router.post("/calls/{call_id}/ack")
async def acknowledge(call_id: str, session: SessionDep, principal: ActingPrincipal, data: CheckedForm) -> Response:
    """Record an answer the duty officer took by phone, radio or in person (ack_method manual)."""
    try:
        body = ManualAckIn(method=_form_text(data, "method"), note=_form_text(data, "note"))
    except ValidationError:
        raise Unprocessable("请选择应答方式（电话、当面、电台或其他），说明不超过500字。") from None
    call = await call_service.get_call(session, call_id)
    if call.warning_id is not None:
        await warning_service.get_warning(session, call.warning_id, principal)
    if not await scope.covers_call(session, call, principal):
        raise Forbidden(f"此呼叫的对象不在您的辖区（{principal.region_code}）内。")
    await call_service.acknowledge(
        session, call, method="manual", actor=principal.name, now=utc_now(), how=body.method, note=body.note or None
    )
    if call.warning_id is None:  # a call about a hazard report, answered from the report's page
        return see_other(f"/console/hazards/{call.hazard_id}?done=ack")  # app.web.hazards
    return see_other(_board_url(call.warning_id, "ack", _form_text(data, "county"), "#people"))


@router.post("/warnings/{warning_id}/regions/{code}/confirm")
async def confirm_region(
    warning_id: str, code: str, session: SessionDep, principal: ActingPrincipal, data: CheckedForm
) -> Response:
    """Mark a region reached by other means (a call outside the system, a visit)."""
    try:
        body = ConfirmIn(method=_form_text(data, "method") or "other", note=_form_text(data, "note"))
    except ValidationError:
        raise Unprocessable("请选择确认方式，说明不超过500字。") from None
    warning = await warning_service.get_warning(session, warning_id, principal)
    region = await region_service.get_region(session, code)
    ensure_covers(principal, region.path, region.code)
    await lifecycle.confirm_region(session, warning, region.code, body, actor=principal.name, now=utc_now())
    return see_other(_board_url(warning.id, "confirmed", _form_text(data, "county"), "#confirm"))


@router.post("/warnings/{warning_id}/call-now")
async def call_now(
    warning_id: str,
    request: Request,
    session: SessionDep,
    principal: ActingPrincipal,
    settings: SettingsDep,
    data: CheckedForm,
    background: BackgroundTasks,
) -> Response:
    """一键呼叫: everyone still silent is called once more, now."""
    warning = await warning_service.get_warning(session, warning_id, principal)
    ensure_writable(principal, warning)
    done = await call_now_service.call_now(
        session, warning, plan=providers.plan(settings), actor=principal.name, now=utc_now()
    )
    if not done.repeated:
        background.add_task(wake_sender, request)
    return see_other(_board_url(warning.id, "called_again" if done.repeated else "called", anchor="#people"))


@router.post("/warnings/{warning_id}/cancel")
async def cancel_warning(
    warning_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: ActingPrincipal,
    data: CheckedForm,
    background: BackgroundTasks,
) -> Response:
    """End the warning: 解除 when the danger has passed, 撤回 when it was issued in error."""
    try:
        body = CancelIn(reason=_form_text(data, "reason"), kind=_form_text(data, "kind") or "lifted")
    except ValidationError:
        raise Unprocessable("请选择解除或撤回，原因不超过500字。") from None
    warning = await warning_service.get_warning(session, warning_id, principal)
    ensure_writable(principal, warning)
    await lifecycle.cancel_warning(
        session, warning, reason=body.reason, kind=body.kind, actor=principal.name, plan=providers.plan(settings),
        now=utc_now(),
    )  # fmt: skip
    background.add_task(wake_sender, request)
    return see_other(_board_url(warning.id, "cancelled"))


@router.get("/warnings/{warning_id}/timeline", response_class=HTMLResponse)
async def timeline(
    warning_id: str,
    request: Request,
    session: SessionDep,
    principal: PagePrincipal,
    event_type: Annotated[str | None, Query(alias="type", max_length=40)] = None,
    region: Annotated[str | None, Query(max_length=12)] = None,
    after: Annotated[int | None, Query(ge=0)] = None,
) -> HTMLResponse:
    """Everything that happened to the warning, in order; by type of event and by region."""
    warning = await warning_service.get_warning(session, warning_id, principal)
    region_path = (await region_service.get_region(session, region)).path if region else None
    rows = await warning_timeline.events(
        session, warning, principal, after=after, limit=TIMELINE_PAGE + 1, types=[event_type] if event_type else [],
        region_path=region_path,
    )  # fmt: skip
    masked = principal.role == "auditor"
    names = await warning_timeline.contact_names(session, rows)
    events = [EventOut.of(event, masked=masked, contact_name=names.get(event.call_id or "")) for event in rows]
    places = await warning_timeline.place_names(session, {event.region_code for event in events if event.region_code})
    more = len(events) > TIMELINE_PAGE
    context = {
        "warning": warning,
        "events": [(event, describe(event.type, event.data)) for event in events[:TIMELINE_PAGE]],
        "region_names": places,
        "event_names": EVENT_NAMES,
        "regions": await warning_timeline.offices(session, warning),
        "type": event_type or "",
        "region": region or "",
        "next_url": (
            f"?{urlencode({'type': event_type or '', 'region': region or '', 'after': events[TIMELINE_PAGE - 1].seq})}"
            if more else ""
        ),
    }  # fmt: skip
    return page(request, "timeline.html", context)


@router.get("/warnings/{warning_id}/calls.csv")
async def calls_csv(warning_id: str, session: SessionDep, principal: PagePrincipal) -> StreamingResponse:
    """Every call of the warning (to people in the caller's region) for the file; times in 北京时间."""
    warning = await warning_service.get_warning(session, warning_id, principal)
    return export.warning_calls_file(warning.id, principal)
