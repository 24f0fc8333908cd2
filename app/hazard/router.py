"""Hazard report routes: report, read, whistle (吹哨), progress, evaluation (末端评价), timeline."""

from typing import Annotated

from fastapi import APIRouter, Query, status

from app.audit.schemas import EventOut
from app.auth.dependencies import DutyOfficerDep, PrincipalDep
from app.auth.scope import ensure_covers
from app.call.schemas import CallOut
from app.config import SettingsDep
from app.contact import service as contact_service
from app.db import SessionDep, utc_now
from app.hazard import service as hazard_service
from app.hazard import standing
from app.hazard import steps as hazard_steps
from app.hazard.schemas import (
    DispatchOut,
    EvaluationIn,
    HazardDetailOut,
    HazardIn,
    HazardOut,
    ProgressIn,
    ReportLinkOut,
    WhistleIn,
    masked,
)
from app.models.hazard import Hazard
from app.paging import Page, PageDep, make_page, seq_cursor
from app.region import service as region_service
from app.times import Moment

router = APIRouter(prefix="/api/v1/hazards", tags=["hazards"])
contact_router = APIRouter(prefix="/api/v1/contacts", tags=["contacts"])


def _out(hazard: Hazard, *, auditor: bool) -> HazardOut:
    out: HazardOut = masked(HazardOut.model_validate(hazard), auditor)
    return out


@router.post("", status_code=status.HTTP_201_CREATED, response_model=HazardOut)
async def report_hazard(data: HazardIn, session: SessionDep, principal: DutyOfficerDep) -> HazardOut:
    """A report taken by a duty officer (phone, radio, in person): the office above is called to take it."""
    hazard = await hazard_steps.report_hazard(session, data, actor=principal.name, now=utc_now(), principal=principal)
    return _out(hazard, auditor=False)


@router.get("", response_model=Page[HazardOut])
async def list_hazards(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    status_: Annotated[str | None, Query(alias="status", max_length=12)] = None,
    region_code: Annotated[str | None, Query(max_length=12)] = None,
    since: Annotated[Moment | None, Query()] = None,
) -> Page[HazardOut]:
    """Reports of a subtree within the caller's, newest first."""
    rows = await hazard_service.list_hazards(
        session, principal=principal, status=status_, region_code=region_code, since=since,
        limit=page.fetch, cursor=page.cursor,
    )  # fmt: skip
    auditor = principal.role == "auditor"
    return make_page(rows, page, key=lambda h: h.id, item=lambda h: _out(h, auditor=auditor))


@router.get("/{hazard_id}", response_model=HazardDetailOut)
async def get_hazard(hazard_id: str, session: SessionDep, principal: PrincipalDep) -> HazardDetailOut:
    """One report with its calls and the departments its whistles called."""
    hazard = await hazard_service.get_hazard(session, hazard_id, principal)
    auditor = principal.role == "auditor"
    calls, dispatches = await hazard_service.calls_of(session, hazard, principal)
    return HazardDetailOut(
        **_out(hazard, auditor=auditor).model_dump(),
        calls=[CallOut.of(call, masked=auditor) for call in calls],
        dispatches=[DispatchOut.model_validate(d) for d in dispatches],
    )


@router.get("/{hazard_id}/timeline", response_model=Page[EventOut])
async def timeline(hazard_id: str, session: SessionDep, principal: PrincipalDep, page: PageDep) -> Page[EventOut]:
    """Every event of the report, in order: its steps, calls, messages and answers."""
    hazard = await hazard_service.get_hazard(session, hazard_id, principal)
    rows = await hazard_service.timeline(session, hazard, principal, limit=page.fetch, after=seq_cursor(page))
    auditor = principal.role == "auditor"
    return make_page(rows, page, key=lambda e: str(e.seq), item=lambda e: EventOut.of(e, masked=auditor))


@router.post("/{hazard_id}/whistle", response_model=HazardOut)
async def whistle(hazard_id: str, data: WhistleIn, session: SessionDep, principal: DutyOfficerDep) -> HazardOut:
    """吹哨: the departments named are called to report in (报到) by the deadline."""
    hazard = await hazard_service.get_hazard(session, hazard_id, principal, lock=True)
    return _out(await hazard_steps.whistle(session, hazard, data, principal=principal, now=utc_now()), auditor=False)


@router.post("/{hazard_id}/progress", response_model=HazardOut)
async def progress(hazard_id: str, data: ProgressIn, session: SessionDep, principal: DutyOfficerDep) -> HazardOut:
    """Handling, or resolved with a note (the reporter is then asked to judge the result)."""
    hazard = await hazard_service.get_hazard(session, hazard_id, principal, lock=True)
    done = await hazard_steps.progress(session, hazard, data.status, data.note, principal=principal, now=utc_now())
    return _out(done, auditor=False)


@router.post("/{hazard_id}/evaluation", response_model=HazardOut)
async def evaluation(hazard_id: str, data: EvaluationIn, session: SessionDep, principal: DutyOfficerDep) -> HazardOut:
    """末端评价 taken from the reporter by a duty officer; unsatisfied reopens the report."""
    hazard = await hazard_service.get_hazard(session, hazard_id, principal, lock=True)
    done = await hazard_steps.evaluate(session, hazard, data.rating, data.note, actor=principal.name, now=utc_now())
    return _out(done, auditor=False)


@contact_router.post("/{contact_id}/report-link", response_model=ReportLinkOut)
async def send_report_link(
    contact_id: str, session: SessionDep, settings: SettingsDep, principal: DutyOfficerDep
) -> ReportLinkOut:
    """A new standing report link for the contact, sent to them by SMS; the one before stops working."""
    contact = await contact_service.get_contact(session, contact_id, lock=True)
    region = await region_service.get_region(session, contact.region_code)
    ensure_covers(principal, region.path, region.code)
    message = await standing.send_new_link(session, contact, settings=settings, actor=principal.name, now=utc_now())
    return ReportLinkOut(contact_id=contact.id, message_id=message.id, to=message.to, status=message.status)
