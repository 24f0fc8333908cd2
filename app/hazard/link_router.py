"""A hazard report as the person called about it sees it, behind the call's own link (/ack/{token}
sends calls about reports here): what was reported, what is asked (接报, 报到, 督办), the 收到
button (the link's own POST), and for the reporter, once resolved, the 末端评价 form. Plain forms,
no script, for a cheap phone."""

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from app.call import service as call_service
from app.contact.language import languages_of
from app.db import SessionDep, utc_now
from app.errors import AppError, NotFound
from app.hazard import reading, standing, steps
from app.hazard.schemas import EvaluationIn
from app.i18n import N_, SOURCE, pages
from app.models.call import OPEN_STATUSES as OPEN_CALL
from app.models.call import Call
from app.models.hazard import Hazard
from app.pages import PAGE_HEADERS, beijing

router = APIRouter(prefix="/ack", include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
pages.install(templates.env)
COLOURS = {True: "#c5221f", False: "#e8710a"}
ASKS = {
    "receive": (N_("请接报以下险情"), N_("接报")),
    "dispatch": (N_("请报到并处置以下险情"), N_("报到")),
    "escalate": (N_("以下险情未及时接报，请督办"), N_("收到，督办")),
    "evaluate": (N_("您报告的险情已办结，请评价处置结果"), ""),
}
DEPARTMENT_LATE = N_("{department}未按时报到，请督办以下险情")
STATUS_NAMES = {"reported": N_("待接报"), "received": N_("已接报"), "dispatched": N_("已吹哨"),
                "handling": N_("处置中"), "resolved": N_("已办结"), "evaluated": N_("已评价"),
                "reopened": N_("已重新交办")}  # fmt: skip
CALL_STATUS = {"cancelled": N_("已由他人处理或已办结"), "unanswered": N_("已超时，已上报")}


async def _page(
    request: Request, session: SessionDep, token: str, call: Call, hazard: Hazard, *, message: str = "",
    message_class: str = "done", status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    step = call.hazard_step or "receive"
    instruction, ask_text, department = "", ASKS[step][0], ""
    if call.department_id:
        dispatch = await reading.dispatch_of(session, hazard, call.department_id)
        instruction = dispatch.instruction if dispatch else ""
        if step == "escalate":
            ask_text, department = DEPARTMENT_LATE, dispatch.department_name if dispatch else "部门"
    context = {
        "lang": (await languages_of(session, [call.contact_id])).get(call.contact_id, SOURCE),
        "department": department, "heading": f"{hazard.place}{hazard.category}", "urgent": hazard.urgent,
        "colour": COLOURS[hazard.urgent],
        "status_name": STATUS_NAMES.get(hazard.status, hazard.status), "reported_at": beijing(hazard.created_at),
        "contact_name": call.contact_name, "ask_text": ask_text, "button": ASKS[step][1] or N_("收到"),
        "description": hazard.description, "people_at_risk": hazard.people_at_risk, "instruction": instruction,
        "resolution": hazard.resolution, "step": step, "rating": hazard.rating,
        "can_evaluate": step == "evaluate" and hazard.status == "resolved" and call.status != "cancelled",
        "acknowledged": call.status == "acknowledged", "acknowledged_at": beijing(call.acknowledged_at),
        "late": call.late, "can_ack": call.status in OPEN_CALL, "deadline": beijing(call.deadline_at),
        "call_status": CALL_STATUS.get(call.status, call.status), "ack_action": f"/ack/{token}",
        "evaluation_action": f"/ack/{token}/evaluation", "message": message, "message_class": message_class,
        "report_action": f"/ack/{token}/report" if call.contact_id else "",
    }  # fmt: skip
    response = templates.TemplateResponse(request, "hazard_ack.html", context, status_code=status_code)
    response.headers.update(PAGE_HEADERS)
    return response


def gone_page(
    request: Request, text: str = N_("请检查链接是否完整，或直接回复短信“收到”。"), *, kept: str = ""
) -> HTMLResponse:
    """A dead or broken link's page; `kept`, what the person had typed, shown to copy (in the
    browser's language where it has a catalog, beside Chinese)."""
    lang = pages.from_accept_language(request.headers.get("accept-language"))
    context = {"heading": N_("链接无效"), "text": text, "kept": kept, "lang": lang}
    response = templates.TemplateResponse(request, "hazard_gone.html", context, status_code=404)
    response.headers.update(PAGE_HEADERS)
    return response


@router.get("/{token}/hazard", response_class=HTMLResponse)
async def show(token: str, request: Request, session: SessionDep) -> HTMLResponse:
    """The report behind a call's link. Never acknowledges."""
    try:
        call, hazard = await reading.load(session, token)
    except NotFound:
        return gone_page(request)
    sent = {"ack": N_("已确认收到，谢谢。"), "evaluation": N_("评价已提交，谢谢。")}.get(
        request.query_params.get("sent", ""), ""
    )
    return await _page(request, session, token, call, hazard, message=sent)


@router.post("/{token}/evaluation", response_model=None)
async def evaluation(
    token: str,
    request: Request,
    session: SessionDep,
    rating: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """末端评价 by the reporter, from the link sent when the report was resolved."""
    call, hazard = await reading.load(session, token)
    try:
        body = EvaluationIn.model_validate({"rating": rating, "note": note})
    except ValidationError:
        return await _page(request, session, token, call, hazard, message="请选择满意或不满意。",
                           message_class="error", status_code=422)  # fmt: skip
    if not await reading.may_evaluate(session, call, hazard):
        return await _page(request, session, token, call, hazard, message="这个链接已不能评价（报告已重新办理）。",
                           message_class="error", status_code=409)  # fmt: skip
    try:
        await steps.evaluate_by_link(session, hazard, body.rating, body.note, actor=call.contact_name, now=utc_now())
    except AppError as error:
        call, hazard = await reading.load(session, token)
        return await _page(request, session, token, call, hazard, message="这份报告已评价过或尚未办结。",
                           message_class="error", status_code=error.status)  # fmt: skip
    return RedirectResponse(f"/ack/{token}/hazard?sent=evaluation", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/{token}/report", response_model=None)
async def report_link(token: str, request: Request, session: SessionDep) -> Response:
    """上报险情 from any call's page (a warning's or a report's): to the person's standing report
    form, its link made now if they have none yet. A POST, so that no page view writes. It works
    while the call's own link does (a week after its warning ends, or its report closes)."""
    now = utc_now()
    call = await call_service.call_by_token(session, token)
    if call is not None and not await reading.still_open(session, call, now):
        call = None
    contact = await reading.reporter_locked(session, call)
    found = await standing.report_token(session, contact, actor=contact.name, now=now) if contact else None
    if found is None:
        return gone_page(request, N_("这个链接无法上报险情（链接无效，或您已不在名册上）。请联系乡镇值班人员。"))
    return RedirectResponse(f"/r/{found}", status_code=status.HTTP_303_SEE_OTHER)
