"""Duty routes: an office's (or a county department's) roster of shifts, who is on duty, and
handovers (交接班)."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, status

from app.auth.dependencies import DutyOfficerDep, PrincipalDep
from app.auth.service import Principal
from app.db import SessionDep, utc_now
from app.duty import handover as handover_service
from app.duty import roster as roster_service
from app.duty import service as duty_service
from app.duty.schemas import (
    DutyOut,
    GapOut,
    HandoverIn,
    HandoverOut,
    RosterIn,
    RosterOut,
    masked_handover,
    shift_out,
)
from app.paging import Page, PageDep, make_page
from app.times import Moment

router = APIRouter(prefix="/api/v1/duty", tags=["duty"])
department_router = APIRouter(prefix="/api/v1/departments", tags=["duty"])


@router.put("/{region_code}", response_model=RosterOut)
async def replace_roster(
    region_code: str, roster: RosterIn, session: SessionDep, principal: DutyOfficerDep
) -> RosterOut:
    """Replace every shift of the office that has not ended (all or nothing; overlaps are refused).
    The shift in force keeps its start: sent again it takes the new end; left out, it ends now."""
    office = duty_service.Roster(await duty_service.get_desk(session, region_code))
    return await _replaced(session, office, roster, principal)


@router.get("/{region_code}", response_model=DutyOut)
async def get_duty(
    region_code: str,
    session: SessionDep,
    principal: PrincipalDep,
    at: Annotated[Moment | None, Query(description="The moment asked about; now by default.")] = None,
) -> DutyOut:
    """The shift in force at `at` (now by default) and the shifts after it; whether the office is in
    a gap (falling back to its rank-1 contacts), and its next gap within 24 hours."""
    office = duty_service.Roster(await duty_service.get_desk(session, region_code))
    return await _duty(session, office, principal, at)


@department_router.put("/{department_id}/duty", response_model=RosterOut)
async def replace_department_roster(
    department_id: str, roster: RosterIn, session: SessionDep, principal: DutyOfficerDep
) -> RosterOut:
    """A county department's roster, replaced as an office's is: its officer on shift is whom a
    township's 吹哨 calls to report in (报到); the shifts' people are the department's own."""
    department = await duty_service.department_roster(session, department_id)
    return await _replaced(session, department, roster, principal)


@department_router.get("/{department_id}/duty", response_model=DutyOut)
async def get_department_duty(
    department_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    at: Annotated[Moment | None, Query(description="The moment asked about; now by default.")] = None,
) -> DutyOut:
    """Who is on duty at a county department at `at` (now by default), as for an office."""
    return await _duty(session, await duty_service.department_roster(session, department_id), principal, at)


async def _replaced(
    session: SessionDep, roster: duty_service.Roster, body: RosterIn, principal: Principal
) -> RosterOut:
    shifts = await roster_service.replace_roster(session, roster, body.shifts, principal=principal, now=utc_now())
    people = await duty_service.get_shift_people(session, shifts)
    return RosterOut(region_code=roster.region.code, department_id=roster.department.id if roster.department else None,
                     shifts=[shift_out(s, people, masked=False) for s in shifts])  # fmt: skip


async def _duty(session: SessionDep, roster: duty_service.Roster, principal: Principal, at: datetime | None) -> DutyOut:
    duty_service.ensure_can_read(principal, roster.region)
    moment: datetime = at.astimezone(UTC) if at else utc_now()
    current, upcoming = await duty_service.roster_at(session, roster, moment)
    people = await duty_service.get_shift_people(session, [*([current] if current else []), *upcoming])
    masked = principal.role == "auditor"
    keeps = await duty_service.keeps_roster(session, roster, moment)
    gap = await duty_service.first_gap(session, roster, moment) if keeps else None
    return DutyOut(
        region_code=roster.region.code,
        department_id=roster.department.id if roster.department else None,
        at=moment,
        current=shift_out(current, people, masked=masked) if current else None,
        next=[shift_out(s, people, masked=masked) for s in upcoming],
        keeps_roster=keeps,
        fallback=keeps and gap is not None and gap.starts_at <= moment,
        next_gap=GapOut(starts_at=gap.starts_at, ends_at=gap.ends_at) if gap else None,
    )


@router.post("/{region_code}/handover", status_code=status.HTTP_201_CREATED, response_model=HandoverOut)
async def record_handover(
    region_code: str, body: HandoverIn, session: SessionDep, principal: DutyOfficerDep
) -> HandoverOut:
    """Record a handover: the note and the outgoing officer's open escalation and hazard calls."""
    region = await duty_service.get_desk(session, region_code)
    handover = await handover_service.record_handover(session, region, body.note, principal=principal, now=utc_now())
    return masked_handover(handover, masked=False)


@router.get("/{region_code}/handovers", response_model=Page[HandoverOut])
async def list_handovers(
    region_code: str, session: SessionDep, principal: PrincipalDep, page: PageDep
) -> Page[HandoverOut]:
    """An office's handovers, newest first (inside one's own subtree: they name what is open there)."""
    region = await duty_service.get_desk(session, region_code)
    duty_service.ensure_covers(principal, region)
    rows = await handover_service.list_handovers(session, region.code, limit=page.fetch, cursor=page.cursor)
    masked = principal.role == "auditor"
    return make_page(rows, page, key=lambda h: h.id, item=lambda h: masked_handover(h, masked=masked))
