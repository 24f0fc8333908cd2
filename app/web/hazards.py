"""Hazard reports in the console (险情): the board of open reports with their clocks running (new,
received, dispatched, overdue), a form to take a report by phone, and a report's page with its
calls, the departments whistled for, its timeline and the next steps (吹哨, 处置, 办结, 评价). Plain
forms on the API's own services: everything works without JavaScript."""

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import Principal
from app.db import SessionDep, utc_now
from app.department import service as department_service
from app.errors import AppError
from app.hazard import service as hazard_service
from app.hazard import steps as hazard_steps
from app.hazard.schemas import HazardIn, WhistleIn
from app.models.hazard import OPEN, Hazard, HazardDispatch
from app.policy.snapshot import PolicySnapshot
from app.region import service as region_service
from app.web.events import EVENT_NAMES, describe
from app.web.render import PageRoute, page, see_other
from app.web.session import ActingPrincipal, CheckedForm, PagePrincipal

router = APIRouter(route_class=PageRoute, include_in_schema=False)  # under /console (app.web.router)
STATUS_NAMES = {"reported": "待接报", "received": "已接报", "dispatched": "已吹哨", "handling": "处置中",
                "resolved": "已办结", "evaluated": "已评价", "reopened": "重新交办"}  # fmt: skip
SOURCES = {"phone": "电话", "radio": "电台", "in_person": "当面", "sms": "短信", "link": "链接", "other": "其他"}
STEP_NAMES = {"receive": "接报", "dispatch": "报到", "escalate": "督办", "evaluate": "评价"}
DONE = {"reported": "险情已登记，已呼叫接报单位。", "whistle": "已吹哨，部门已呼叫。", "progress": "已更新处置情况。",
        "evaluation": "评价已记录。", "ack": "已登记应答。"}  # fmt: skip


def _text(data: CheckedForm, name: str) -> str:
    value = data.get(name)
    return value.strip() if isinstance(value, str) else ""


def clock(hazard: Hazard, dispatches: list[HazardDispatch], now: datetime) -> dict[str, Any]:
    """What the report waits for, for how long, and whether it is past its time."""
    if hazard.status in ("reported", "reopened"):
        limit = timedelta(seconds=PolicySnapshot.of(hazard.policy).ack_timeout_s)
        waited = now - hazard.created_at
        return {"what": "待接报", "since": hazard.created_at, "overdue": waited > limit, "limit": limit}
    silent = [d for d in dispatches if d.reported_in_at is None]
    if hazard.status == "dispatched" and silent:
        first = min(silent, key=lambda d: d.deadline_at)
        return {"what": f"待报到 {len(silent)}/{len(dispatches)} 个部门", "since": hazard.dispatched_at,
                "overdue": now > first.deadline_at, "limit": first.deadline_at - first.created_at}  # fmt: skip
    return {"what": STATUS_NAMES.get(hazard.status, hazard.status), "since": hazard.created_at, "overdue": False,
            "limit": None}  # fmt: skip


@router.get("/hazards", response_class=HTMLResponse)
async def board(
    request: Request, session: SessionDep, principal: PagePrincipal, show: Annotated[str, Query(max_length=10)] = "open"
) -> HTMLResponse:
    """Open reports of one's area, the most pressing first, each with its clock; or the latest closed."""
    rows = await hazard_service.list_hazards(
        session, principal=principal, status=None, region_code=None, since=None, limit=500, cursor=None
    )
    now = utc_now()
    shown = [h for h in rows if (h.status in OPEN) == (show != "closed")]
    dispatches = await hazard_service.dispatches_of(session, [h.id for h in shown])
    clocks = {h.id: clock(h, dispatches.get(h.id, []), now) for h in shown}
    shown.sort(key=lambda h: (not clocks[h.id]["overdue"], not h.urgent, h.created_at))  # the most pressing first
    items = [{"hazard": h, "clock": clocks[h.id]} for h in shown]
    context = {"items": items, "now": now, "show": show, "STATUS_NAMES": STATUS_NAMES}
    return page(request, "hazards.html", context)


@router.get("/hazards/new", response_class=HTMLResponse)
async def new_report(request: Request, principal: ActingPrincipal) -> HTMLResponse:
    """The form to take a report by phone, radio or in person."""
    form = {"region_code": principal.region_code or "", "source": "phone"}
    return page(request, "hazard_new.html", {"form": form, "SOURCES": SOURCES})


@router.post("/hazards/new")
async def take_report(request: Request, session: SessionDep, principal: ActingPrincipal, data: CheckedForm) -> Response:
    """Store the report: the office above its region is called at once."""
    form = {name: _text(data, name) for name in ("region_code", "category", "description", "people_at_risk",
                                                 "source", "reporter_name", "reporter_phone")}  # fmt: skip
    form["urgent"] = "1" if data.get("urgent") == "1" else ""
    try:
        body = HazardIn.model_validate({
            **{k: v for k, v in form.items() if v and k not in ("urgent", "people_at_risk")},
            "urgent": form["urgent"] == "1",
            "people_at_risk": int(form["people_at_risk"]) if form["people_at_risk"].isdigit() else None,
        })  # fmt: skip
        hazard = await hazard_steps.report_hazard(session, body, actor=principal.name, now=utc_now(),
                                                  principal=principal)  # fmt: skip
    except (ValidationError, AppError) as error:
        message = (
            error.detail
            if isinstance(error, AppError)
            else "请填写区域代码、类别、情况描述和来源（电话号码须为手机号）。"
        )
        context = {"form": form, "SOURCES": SOURCES, "error": message}
        return page(request, "hazard_new.html", context, status_code=422)
    return see_other(f"/console/hazards/{hazard.id}?done=reported")


async def _report_page(
    request: Request, session: AsyncSession, principal: Principal, hazard: Hazard, *, message: str = "",
    status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    calls, dispatches = await hazard_service.calls_of(session, hazard, principal)
    events = await hazard_service.timeline(session, hazard, principal, limit=500, after=None)
    region = await region_service.get_region(session, hazard.region_code)
    county = await department_service.county_of(session, region)
    departments = (
        await department_service.list_departments(session, principal=principal, region_code=county.code,
                                                  limit=200, cursor=None) if county else []
    )  # fmt: skip
    now = utc_now()
    context = {
        "hazard": hazard, "calls": calls, "dispatches": dispatches, "departments": departments,
        "events": [{"at": e.at, "type": e.type, "actor": e.actor, "text": describe(e.type, e.data)} for e in events],
        "clock": clock(hazard, dispatches, now), "now": now, "STATUS_NAMES": STATUS_NAMES, "SOURCES": SOURCES,
        "STEP_NAMES": STEP_NAMES, "EVENT_NAMES": EVENT_NAMES, "message": message, "open": hazard.status in OPEN,
        "place": (await region_service.path_names(session, [region])).get(region.code, ""),
    }  # fmt: skip
    return page(request, "hazard.html", context, status_code=status_code)


@router.get("/hazards/{hazard_id}", response_class=HTMLResponse)
async def report(hazard_id: str, request: Request, session: SessionDep, principal: PagePrincipal) -> HTMLResponse:
    """A report: what, where, its clock, its calls and departments, its timeline, and the next steps."""
    hazard = await hazard_service.get_hazard(session, hazard_id, principal)
    done = DONE.get(request.query_params.get("done", ""), "")
    return await _report_page(request, session, principal, hazard, message=done)


@router.post("/hazards/{hazard_id}/{step}")
async def step(
    hazard_id: str, step: str, request: Request, session: SessionDep, principal: ActingPrincipal, data: CheckedForm
) -> Response:
    """吹哨, 处置/办结 or 评价, from the report's page."""
    hazard = await hazard_service.get_hazard(session, hazard_id, principal, lock=True)
    now = utc_now()
    try:
        if step == "whistle":
            minutes = _text(data, "deadline_min")
            body = WhistleIn.model_validate({
                "department_ids": [v for v in data.getlist("department_ids") if isinstance(v, str)],
                "instruction": _text(data, "instruction"),
                "deadline_s": float(minutes) * 60 if minutes.replace(".", "", 1).isdigit() else 0,
            })  # fmt: skip
            await hazard_steps.whistle(session, hazard, body, principal=principal, now=now)
        elif step == "progress":
            status = _text(data, "status")
            if status not in ("handling", "resolved"):
                raise AppError("请选择处置中或已办结。", status=422)
            await hazard_steps.progress(session, hazard, status, _text(data, "note"), principal=principal, now=now)
        elif step == "evaluation":
            rating = _text(data, "rating")
            if rating not in ("satisfied", "unsatisfied"):
                raise AppError("请选择满意或不满意。", status=422)
            await hazard_steps.evaluate(session, hazard, rating, _text(data, "note"), actor=principal.name, now=now)
        else:
            raise AppError("没有这个操作。", status=404)
    except ValidationError:
        await session.rollback()
        hazard = await hazard_service.get_hazard(session, hazard_id, principal)
        message = "请至少选择一个部门，并填写报到时限（分钟）。"
        return await _report_page(request, session, principal, hazard, message=message, status_code=422)
    except AppError as error:
        await session.rollback()
        hazard = await hazard_service.get_hazard(session, hazard_id, principal)
        return await _report_page(request, session, principal, hazard, message=error.detail, status_code=error.status)
    return see_other(f"/console/hazards/{hazard_id}?done={step}")
