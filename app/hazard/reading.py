"""What the report links' pages read: the call behind a token and its report, the department's
instruction, whether a link still serves; the reporter's regions and recent reports."""

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.call import service as call_service
from app.errors import NotFound
from app.models.call import Call
from app.models.contact import Contact, Supervision
from app.models.hazard import OPEN, Hazard, HazardDispatch
from app.models.region import Region
from app.models.warning import Warning


async def load(session: AsyncSession, token: str) -> tuple[Call, Hazard]:
    """The call about a report behind a token, and the report: 404 for any other link."""
    call = await call_service.call_by_token(session, token)
    hazard = await session.get(Hazard, call.hazard_id) if call is not None and call.hazard_id else None
    if call is None or hazard is None:
        raise NotFound("This link is not valid; check that it was copied whole.")
    return call, hazard


async def dispatch_of(session: AsyncSession, hazard: Hazard, department_id: str) -> Any:
    """The latest whistle of the report to a department: (instruction, department_name), or None."""
    return (await session.execute(
        select(HazardDispatch.instruction, HazardDispatch.department_name)
        .where(HazardDispatch.hazard_id == hazard.id, HazardDispatch.department_id == department_id)
        .order_by(HazardDispatch.id.desc()).limit(1)
    )).one_or_none()  # fmt: skip


async def may_evaluate(session: AsyncSession, call: Call, hazard: Hazard) -> bool:
    """Whether a link may evaluate the report: the latest evaluation call's, not cancelled (a report
    taken again gets a new one)."""
    latest = await session.scalar(
        select(Call.id).where(Call.hazard_id == hazard.id, Call.hazard_step == "evaluate").order_by(Call.id.desc())
    )
    return call.hazard_step == "evaluate" and call.status != "cancelled" and call.id == latest


async def still_open(session: AsyncSession, call: Call, now: datetime) -> bool:
    """Whether a call's link still serves: its warning ended less than a week ago, or its report is
    open or was made less than a week ago."""
    if call.warning_id is not None:
        warning = await session.get_one(Warning, call.warning_id)
        return not call_service.closed_a_week(warning.closed_at, now)
    hazard = await session.get(Hazard, call.hazard_id) if call.hazard_id else None
    return hazard is not None and (hazard.status in OPEN or now - call.created_at <= call_service.FEEDBACK_WINDOW)


async def reporter_locked(session: AsyncSession, call: Call | None) -> Contact | None:
    """The person a call went to, locked (their standing link may be made now), if on record."""
    if call is None or not call.contact_id:
        return None
    return await session.get(Contact, call.contact_id, with_for_update=True)


async def regions_of(session: AsyncSession, contact: Contact) -> list[tuple[str, str]]:
    """Where the contact may report: their own region first, then those they supervise (包保)."""
    supervised = select(Supervision.region_code).where(Supervision.contact_id == contact.id)
    rows = (await session.execute(
        select(Region.code, Region.name).where((Region.code == contact.region_code) | Region.code.in_(supervised))
    )).tuples().all()  # fmt: skip
    return sorted(rows, key=lambda row: (row[0] != contact.region_code, row[0]))


async def recent_reports(session: AsyncSession, contact: Contact) -> list[Hazard]:
    """The contact's five latest reports, newest first."""
    query = select(Hazard).where(Hazard.reporter_contact_id == contact.id).order_by(Hazard.created_at.desc()).limit(5)
    return list(await session.scalars(query))
