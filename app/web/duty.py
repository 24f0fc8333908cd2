"""The duty desk in the console (值班): who is on duty now and next, a week of shifts at a glance,
the roster's form, and the handover (交接班). Plain forms: everything works without JavaScript.

The roster's form holds one row per shift (the shifts that have not ended, then blank rows); a
row left blank is skipped, and saving replaces the office's roster with the rows as a whole, the
API's PUT /api/v1/duty/{region} on the same service. `?fill=week` adds a week of rows at the
office's change-over times, for the person to pick who takes each."""

from datetime import datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import Principal
from app.db import SessionDep, utc_now
from app.department import service as department_service
from app.duty import desks as duty_desks
from app.duty import handover as handover_service
from app.duty import roster as roster_service
from app.duty import service as duty_service
from app.duty.schemas import HandoverIn
from app.errors import AppError, Unprocessable
from app.models.duty import DutyShift
from app.models.region import Region
from app.region import service as region_service
from app.times import BEIJING
from app.web import duty_form
from app.web.render import PageRoute, page, see_other
from app.web.session import CheckedForm, PagePrincipal, can_act

router = APIRouter(route_class=PageRoute, include_in_schema=False)  # under /console (app.web.router)
BLANK_ROWS = 3
WEEK = duty_form.WEEK
OFFICES_LISTED = 200


def _clock(moment: datetime, day: datetime) -> str:
    """A time within one day's row: clipped to 00:00 and 24:00 at the day's edges."""
    if moment <= day:
        return "00:00"
    if moment >= day + timedelta(days=1):
        return "24:00"
    return moment.astimezone(BEIJING).strftime("%H:%M")


def _day_lines(
    shifts: list[DutyShift], people: dict[str, Any], start: datetime, now: datetime, *, keeps: bool
) -> list[dict[str, Any]]:
    """Seven days from `start` (a Beijing midnight): each day's shifts and the gaps still to come,
    clipped to the day."""
    days = []
    staffed = [(s.starts_at, s.ends_at) for s in shifts if duty_service.staffed(s, people)]
    for day in range(WEEK):
        begins, ends = start + timedelta(days=day), start + timedelta(days=day + 1)
        on_day = [
            {"span": f"{_clock(s.starts_at, begins)}–{_clock(s.ends_at, begins)}", "shift": s}
            for s in shifts
            if s.starts_at < ends and s.ends_at > begins
        ]
        rest = max(begins, now)  # gaps still to come: the past is not news
        found = duty_service.gaps(staffed, rest, ends) if keeps and rest < ends else []
        holes = [f"{_clock(g.starts_at, begins)}–{_clock(g.ends_at or ends, begins)}" for g in found]
        label = f"{begins.strftime('%m-%d')} 周{'一二三四五六日'[begins.weekday()]}"
        days.append({"label": label, "shifts": on_day, "gaps": holes})
    return days


async def _office_page(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    region: Region,
    *,
    rows: list[duty_form.Row] | None = None,
    message: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    now = utc_now()
    roster = duty_service.Roster(region)
    current, upcoming = await duty_service.roster_at(session, roster, now)
    midnight = datetime.combine(now.astimezone(BEIJING).date(), time(), tzinfo=BEIJING)
    week = await duty_service.shifts_between(session, region.code, midnight, midnight + timedelta(days=WEEK))
    not_ended = [*([current] if current else []), *upcoming]
    keeps = await duty_service.keeps_roster(session, roster, now)
    people = await duty_service.get_shift_people(session, [*week, *not_ended])
    contacts = await duty_service.office_contacts(session, region.code)
    if rows is None:
        rows = duty_form.rows_of(not_ended)
        fill = request.query_params.get("fill")
        if fill == "week":
            after = max([now, *(s.ends_at for s in not_ended)])
            rows += duty_form.week_rows(after, duty_form.changes_of(request.query_params.get("times", "")))
        rows += [duty_form.Row() for _ in range(BLANK_ROWS)]
    context = {
        "office": region, "now": now, "current": current, "upcoming": upcoming[:3], "people": people,
        "days": _day_lines(week, people, midnight, now, keeps=keeps), "rows": rows, "contacts": contacts,
        "message": message,
        "gap": await duty_service.first_gap(session, roster, now) if keeps else None,
        "fallback": _fallback(contacts), "editable": _editable(principal, region),
        "handovers": await handover_service.list_handovers(session, region.code, limit=5)
        if principal.covers(region.path) else [],
        "path_names": await region_service.path_names(session, [region]),
        "departments": await _department_desks(session, region, now),
    }  # fmt: skip
    return page(request, "duty.html", context, status_code=status_code)


async def _department_desks(session: AsyncSession, region: Region, now: datetime) -> list[dict[str, Any]]:
    """The office's departments (a county's), each with its officer on duty where it keeps a roster:
    whom a township's 吹哨 calls now."""
    departments = await department_service.of_region(session, region.code, limit=200)
    desks = await duty_service.desks_in_force(session, [d.id for d in departments], now, departments=True)
    return [{"name": d.name, "desk": desks.get(d.id), "keeps": d.id in desks} for d in departments]


def _fallback(contacts: list[Any]) -> list[str]:
    """Who answers for the office when nobody is on duty: its rank-1 contacts (of the office's roster)."""
    lowest = min((c.rank for c in contacts), default=None)
    return [c.name for c in contacts if c.rank == lowest]


def _editable(principal: Principal, region: Region) -> bool:
    return can_act(principal) and principal.covers(region.path)


async def at_a_glance(session: AsyncSession, principal: Principal, now: datetime) -> dict[str, Any]:
    """For the home page: who is on duty at the person's own office now and next, and the gaps of
    the next 24 hours in their area."""
    within = principal.within
    gaps, gap_count = await duty_service.next_gaps(session, within_path=within, now=now, limit=10)
    found: dict[str, Any] = {"gaps": gaps, "gap_count": gap_count}
    own = await session.get(Region, principal.region_code) if principal.region_code else None
    if own is not None and own.level in duty_service.DESK_LEVELS:
        roster = duty_service.Roster(own)
        current, upcoming = await duty_service.roster_at(session, roster, now)
        shifts = [s for s in (current, *upcoming[:1]) if s is not None]
        keeps = await duty_service.keeps_roster(session, roster, now)
        found |= {"office": own, "current": current, "upcoming": upcoming[:1], "keeps_roster": keeps,
                  "people": await duty_service.get_shift_people(session, shifts)}  # fmt: skip
    return found


@router.get("/duty", response_class=HTMLResponse)
async def duty_index(request: Request, session: SessionDep, principal: PagePrincipal) -> Response:
    """The offices of one's area with who is on duty, and the gaps of the next 24 hours."""
    now = utc_now()
    within = principal.within
    offices = await duty_desks.offices(session, within=within, now=now, limit=OFFICES_LISTED + 1)
    desks = await duty_service.desks_in_force(session, [o.code for o in offices], now)
    gaps, gap_count = await duty_service.next_gaps(session, within_path=within, now=now)
    context = {"offices": offices[:OFFICES_LISTED], "more_offices": len(offices) > OFFICES_LISTED, "desks": desks,
               "gaps": gaps, "gap_count": gap_count, "now": now}  # fmt: skip
    return page(request, "duty_index.html", context)


@router.get("/duty/go")
async def go_to_office(_: PagePrincipal, code: Annotated[str, Query(max_length=20)] = "") -> Response:
    """The index's form: open an office's page by its region code."""
    normalized = region_service.normalize_code(code)
    if normalized is None:
        raise Unprocessable("请输入6位或12位的区划代码。")
    return see_other(f"/console/duty/{normalized}")


@router.get("/duty/{code}", response_class=HTMLResponse)
async def office(
    code: str,
    request: Request,
    session: SessionDep,
    principal: PagePrincipal,
    fill: Annotated[str | None, Query(max_length=10)] = None,
    times: Annotated[str | None, Query(max_length=50)] = None,
) -> HTMLResponse:
    """An office's duty: now and next, the week at a glance, the roster's form, the handovers."""
    region = await duty_service.get_desk(session, code)
    duty_service.ensure_can_read(principal, region)
    saved = {"saved": "值班表已保存。", "handed": "交接班已记录。"}.get(request.query_params.get("done", ""), "")
    return await _office_page(request, session, principal, region, message=saved)


@router.post("/duty/{code}")
async def save_roster(
    code: str, request: Request, session: SessionDep, principal: PagePrincipal, data: CheckedForm
) -> Response:
    """Save the roster's form: every row at once, or the form again with each row's mistakes."""
    region = await duty_service.get_desk(session, code)
    duty_service.ensure_can_edit(principal, region)
    rows = duty_form.rows_from(data)
    shifts, origin = duty_form.shifts_of(rows)
    if not any(row.errors for row in rows):
        try:
            roster = duty_service.Roster(region)
            await roster_service.replace_roster(session, roster, shifts, principal=principal, now=utc_now())
            return see_other(f"/console/duty/{region.code}?done=saved")
        except Unprocessable as error:
            duty_form.explain(rows, origin, error)
    rows += [duty_form.Row() for _ in range(max(0, BLANK_ROWS - sum(row.blank for row in rows)))]
    message = "值班表未保存：请按各行的提示修改后再保存。"
    return await _office_page(request, session, principal, region, rows=rows, message=message, status_code=422)


@router.post("/duty/{code}/handover")
async def handover(
    code: str, request: Request, session: SessionDep, principal: PagePrincipal, data: CheckedForm
) -> Response:
    """Record the handover (交接班) with its note."""
    region = await duty_service.get_desk(session, code)
    try:
        note = HandoverIn(note=str(data.get("note") or "")).note
    except ValidationError:
        message = "交班留言不超过2000字，且不能含控制字符。"
        return await _office_page(request, session, principal, region, message=message, status_code=422)
    try:
        await handover_service.record_handover(session, region, note, principal=principal, now=utc_now())
    except AppError as error:
        if error.status != 409:
            raise
        message = "还没有已开始的班次，无法交接班：交接班由当班人员在班次开始后填写。"
        return await _office_page(request, session, principal, region, message=message, status_code=409)
    return see_other(f"/console/duty/{region.code}?done=handed")
