"""The acknowledgement link: a small page without JavaScript, a 收到 form POST, and feedback.

A GET never acknowledges (link scanners and previews fetch pages). JSON clients send
`Accept: application/json`; browsers get the page, and after a POST a redirect back to it.
"""

from datetime import datetime
from pathlib import Path

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from app import throttle
from app.ack import service as ack_service
from app.ack.batcher import AckBatcher
from app.broadcast import service as broadcast_service
from app.call import tokens
from app.call.schemas import FeedbackIn, FeedbackOut
from app.config import SettingsDep
from app.db import SessionDep, utc_now
from app.errors import AppError, Conflict, Gone, NotFound, invalid_body
from app.i18n import N_, pages
from app.models.call import Call
from app.models.warning import Warning
from app.pages import PAGE_HEADERS
from app.warning.schemas import RegionStateOut

router = APIRouter(prefix="/ack", tags=["acknowledgement link"], include_in_schema=True)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
pages.install(templates.env)
FEEDBACK_A_MINUTE = 10


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


async def _page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    token: str,
    call: Call,
    warning: Warning,
    now: datetime,
    *,
    message: str = "",
    message_class: str = "done",
    status_code: int = 200,
) -> HTMLResponse:
    context = await ack_service.page_context(
        session, public_url=settings.public_url, token=token, call=call, warning=warning, now=now
    )
    context.update(message=message, message_class=message_class)
    response = templates.TemplateResponse(request, "ack.html", context, status_code=status_code)
    response.headers.update(PAGE_HEADERS)
    return response


def _gone(request: Request, error: AppError) -> Response:
    if wants_json(request):
        raise error
    heading = N_("链接无效") if error.status == 404 else N_("链接已关闭")
    text = (
        N_("请检查链接是否完整，或直接回复短信“收到”。")
        if error.status == 404
        else N_("该预警已结束超过7天，不再接收反馈。")
    )
    lang = pages.from_accept_language(request.headers.get("accept-language"))
    response = templates.TemplateResponse(
        request, "gone.html", {"heading": heading, "text": text, "lang": lang}, status_code=error.status
    )
    response.headers.update(PAGE_HEADERS)
    return response


@router.get("/{token}", response_class=HTMLResponse, response_model=None)
async def show(token: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """The warning as the person called sees it, with the 收到 button. Never acknowledges."""
    now = utc_now()
    try:
        if (await ack_service.load_call(session, token)).hazard_id is not None:
            query = f"?{request.url.query}" if request.url.query else ""
            return RedirectResponse(f"/ack/{token}/hazard{query}", status_code=status.HTTP_303_SEE_OTHER)
        call, warning = await ack_service.load(session, token, now)
    except AppError as error:
        return _gone(request, error)
    sent = request.query_params.get("sent")
    message = {
        "ack": N_("已确认收到，谢谢。"),
        "feedback": N_("反馈已提交，谢谢。"),
        "woken": N_("已记录叫醒，谢谢。"),
        "broadcast": N_("已记录广播，谢谢。"),
    }.get(sent or "", "")
    return await _page(request, session, settings, token, call, warning, now, message=message)


@router.post("/{token}", response_model=None)
async def acknowledge(token: str, request: Request) -> Response:
    """收到: acknowledge the call (idempotent); committed in a group with presses arriving together."""
    batcher: AckBatcher = request.app.state.ack_batcher
    outcome = await batcher.acknowledge(tokens.hash_token(token)) if tokens.plausible(token) else None
    if outcome is None or outcome.result == "unknown":
        return _gone(request, NotFound(ack_service.NOT_VALID))
    if outcome.result == "gone":
        return _gone(request, Gone(ack_service.CLOSED))
    if outcome.result == "closed" and wants_json(request):
        raise Conflict(f"This call is {outcome.status}: the warning has been updated or has ended.")
    if wants_json(request):
        at = outcome.acknowledged_at.isoformat() if outcome.acknowledged_at else None
        return JSONResponse({"status": outcome.status, "acknowledged_at": at})
    # The page says what happened (已收到, or that the warning was updated or ended).
    suffix = "?sent=ack" if outcome.result == "acknowledged" else ""
    return RedirectResponse(f"/ack/{token}{suffix}", status_code=status.HTTP_303_SEE_OTHER)


async def _feedback_body(request: Request) -> FeedbackIn:
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("application/json"):
            return FeedbackIn.model_validate_json(await request.body())
        form = await request.form()
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        if fields.get("evacuated", "").strip() == "":
            fields.pop("evacuated", None)
        return FeedbackIn.model_validate(fields)
    except ValidationError as exc:
        raise invalid_body(exc, "The feedback") from None


@router.post("/{token}/feedback", status_code=status.HTTP_201_CREATED, response_model=FeedbackOut)
async def feedback(token: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """反馈: 首报/续报/终报 with actions, people moved so far and a note; acknowledges too."""
    now = utc_now()
    try:
        call, warning = await ack_service.load(session, token, now)
    except AppError as error:
        return _gone(request, error)
    # Each report is a row and an event: ten a minute per link is more than any village sends.
    await throttle.check(session, f"feedback:{call.id}", limit=FEEDBACK_A_MINUTE, what="reports on this link")
    try:
        saved = await ack_service.add_feedback(session, call, warning, await _feedback_body(request), now=now)
    except AppError as error:
        if wants_json(request) or request.headers.get("content-type", "").startswith("application/json"):
            raise
        call, warning = await ack_service.load(session, token, now)  # as the refusal left them
        return await _page(
            request,
            session,
            settings,
            token,
            call,
            warning,
            now,
            message=error.detail,
            message_class="error",
            status_code=error.status,
        )
    if request.headers.get("content-type", "").startswith("application/json") or wants_json(request):
        return JSONResponse(FeedbackOut.model_validate(saved).model_dump(mode="json"), status_code=201)
    return RedirectResponse(f"/ack/{token}?sent=feedback", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/{token}/regions/{code}", response_model=None)
async def woken(token: str, code: str, request: Request, session: SessionDep) -> Response:
    """已叫醒: a supervisor called on an escalation has been to a region it names; the region is
    reached (confirmed in person) and the escalation call acknowledged."""
    now = utc_now()
    try:
        call, warning = await ack_service.load(session, token, now)
        region = await ack_service.woken(session, call, warning, code, now=now)
    except (NotFound, Gone) as error:  # a warning closed meanwhile is a conflict, said as such
        return _gone(request, error)
    if wants_json(request):
        return JSONResponse(RegionStateOut.model_validate(region).model_dump(mode="json"))
    return RedirectResponse(f"/ack/{token}?sent=woken", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/{token}/broadcasts/{broadcast_id}", response_model=None)
async def broadcast_played(token: str, broadcast_id: str, request: Request, session: SessionDep) -> Response:
    """已广播: the person's village loudspeaker played the warning (it answers no call)."""
    now = utc_now()
    try:
        call, warning = await ack_service.load(session, token, now)
        if call.kind != "alert":  # the village's own person, not a cadre called about it
            raise NotFound("This link names no such broadcast.")
        await broadcast_service.confirm(session, broadcast_id, warning_id=warning.id, codes=call.region_codes,
                                        actor=call.contact_name, call_id=call.id, now=now)  # fmt: skip
    except AppError as error:
        return _gone(request, error)
    if wants_json(request):
        return JSONResponse({"broadcast_id": broadcast_id, "confirmed": True})
    return RedirectResponse(f"/ack/{token}?sent=broadcast", status_code=status.HTTP_303_SEE_OTHER)
