"""The form behind a contact's standing report link (/r/{token}): 险情上报 from a cheap phone, in
the style of the ack page (one request, inline styles, no script). A report made here is the
contact's, of their region (or one they supervise), with `source` link; the page then lists their
recent reports and how far each has got."""

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from app import throttle
from app.contact.language import languages_of
from app.db import SessionDep, utc_now
from app.errors import AppError
from app.hazard import reading, standing
from app.hazard.link_router import STATUS_NAMES, gone_page
from app.hazard.schemas import HazardIn
from app.i18n import N_, SOURCE, pages
from app.models.contact import Contact
from app.models.hazard import Hazard
from app.pages import PAGE_HEADERS, beijing

router = APIRouter(prefix="/r", include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
pages.install(templates.env)
CATEGORIES = (N_("山体滑坡"), N_("崩塌落石"), N_("泥石流"), N_("地面塌陷"), N_("道路塌方"), N_("河道险情"),
              N_("房屋险情"), N_("洪水内涝"), N_("火情"), N_("其他"))  # fmt: skip
OTHER = "其他"
REPORTS_A_MINUTE = 5
DEAD_LINK = N_("这个上报链接已失效（已更换或人员已调整）。请联系乡镇值班人员，或发送短信“险情：”加情况。")
TOO_OFTEN = N_("提交太频繁，请稍等一分钟再试。")
MISSING = {"category": N_("请填写险情类别"), "description": N_("请填写情况描述")}
TOO_LONG = {"category": N_("险情类别最多{count}字"), "description": N_("情况描述最多{count}字")}
EMPTY = {"region_code": "", "category": CATEGORIES[0], "category_other": "", "description": "", "people_at_risk": "",
         "urgent": False}  # fmt: skip


def _recent(reports: list[Hazard]) -> list[dict[str, str]]:
    return [
        {"at": beijing(h.created_at).removesuffix(" 北京时间"), "place": h.place, "category": h.category,
         "status": STATUS_NAMES.get(h.status, h.status)}
        for h in reports
    ]  # fmt: skip


async def _page(
    request: Request, session: SessionDep, token: str, contact: Contact, *, values: dict[str, Any] | None = None,
    errors: dict[str, tuple[str, dict[str, Any]]] | None = None, message: str = "", message_class: str = "done",
    status_code: int = 200,
    detail: str = "",
) -> HTMLResponse:  # fmt: skip
    regions = await reading.regions_of(session, contact)
    context = {
        "lang": (await languages_of(session, [contact.id])).get(contact.id, SOURCE), "detail": detail,
        "contact_name": contact.name, "place": regions[0][1] if regions else "", "regions": regions,
        "categories": CATEGORIES, "values": {**EMPTY, "region_code": contact.region_code, **(values or {})},
        "errors": errors or {}, "message": message, "message_class": message_class, "action": f"/r/{token}",
        "reports": _recent(await reading.recent_reports(session, contact)),
    }  # fmt: skip
    response = templates.TemplateResponse(request, "report_form.html", context, status_code=status_code)
    response.headers.update(PAGE_HEADERS)
    return response


@router.get("/{token}", response_class=HTMLResponse)
async def show(token: str, request: Request, session: SessionDep) -> HTMLResponse:
    """The empty form, or after a report, that it was sent."""
    contact = await standing.reporter_of(session, token)
    if contact is None:
        return gone_page(request, DEAD_LINK)
    sent = request.query_params.get("sent") == "1"
    message = N_("险情已上报，上级值班人员将接报处置。") if sent else ""
    return await _page(request, session, token, contact, message=message)


@router.post("/{token}", response_model=None)
async def report(
    token: str,
    request: Request,
    session: SessionDep,
    region_code: Annotated[str, Form()] = "",
    category: Annotated[str, Form()] = "",
    category_other: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    people_at_risk: Annotated[str, Form()] = "",
    urgent: Annotated[str, Form()] = "",
) -> Response:
    """上报: a new report of the contact's, called to the office above at once. Whatever is wrong
    is said on the form, with what was typed kept (lengths are checked here, not by the parser,
    so that a long text comes back in the form rather than as JSON)."""
    description = description.replace("\r\n", "\n")  # a browser sends a textarea's line breaks as CRLF
    values = {"region_code": region_code, "category": category, "category_other": category_other,
              "description": description, "people_at_risk": people_at_risk, "urgent": bool(urgent)}  # fmt: skip
    contact = await standing.reporter_of(session, token)
    if contact is None:
        return gone_page(request, DEAD_LINK, kept=description)
    if region_code not in {code for code, _ in await reading.regions_of(session, contact)}:
        region_code = contact.region_code
    named = category_other.strip() if category == OTHER else category
    try:
        data = HazardIn.model_validate({
            "region_code": region_code, "category": named or "", "description": description,
            "people_at_risk": people_at_risk.strip()[:20] or None, "urgent": bool(urgent), "source": "link",
        })  # fmt: skip
    except ValidationError as exc:
        errors = {str(e["loc"][0]): _said(e) for e in exc.errors()}
        return await _page(request, session, token, contact, values=values, errors=errors,
                           message=N_("请检查标红的内容。"), message_class="error", status_code=422)  # fmt: skip
    wait = await throttle.spend(session, f"report:{contact.id}", limit=REPORTS_A_MINUTE)
    if wait is not None:
        response = await _page(request, session, token, contact, values=values, message=TOO_OFTEN,
                               message_class="error", status_code=429)  # fmt: skip
        response.headers["Retry-After"] = str(max(1, round(wait)))
        return response
    try:
        await standing.report_by_form(session, contact, data, now=utc_now())
    except AppError as error:  # the region was abolished meanwhile, say
        contact = await standing.reporter_of(session, token)
        if contact is None:
            return gone_page(request, DEAD_LINK, kept=description)
        return await _page(request, session, token, contact, values=values, message=N_("未能上报：{detail}"),
                           detail=error.detail, message_class="error", status_code=error.status)  # fmt: skip
    return RedirectResponse(f"/r/{token}?sent=1", status_code=status.HTTP_303_SEE_OTHER)


def _said(error: Any) -> tuple[str, dict[str, Any]]:
    """A field's mistake in words: the catalog's id, and its fields."""
    field = str(error["loc"][0])
    if field == "people_at_risk":
        return N_("受威胁人数请填写整数，不清楚可不填"), {}
    if error["type"] == "string_too_long":
        return TOO_LONG.get(field, N_("最多{count}字")), {"count": error["ctx"]["max_length"]}
    return MISSING.get(field, N_("请检查标红的内容。")), {}
