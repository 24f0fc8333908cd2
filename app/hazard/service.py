"""Hazard reports as the caller may see them: one report, a subtree's list, a report's calls and its timeline."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import scope as audit_scope
from app.audit import service as audit_service
from app.auth import scope
from app.auth.service import Principal
from app.errors import Forbidden, NotFound, Unprocessable
from app.models.audit import AuditEvent
from app.models.call import Call
from app.models.hazard import STATUSES, Hazard, HazardDispatch
from app.models.region import codes_within
from app.region import service as region_service


async def get_hazard(session: AsyncSession, hazard_id: str, principal: Principal, *, lock: bool = False) -> Hazard:
    """The report, if its region lies in the caller's subtree; 404 otherwise (403 for a wrong area)."""
    query = select(Hazard).where(Hazard.id == hazard_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    hazard = await session.scalar(query)
    if hazard is None:
        raise NotFound(f"No hazard report has id {hazard_id!r}.")
    region = await region_service.get_region(session, hazard.region_code)
    if not principal.covers(region.path):
        raise Forbidden(f"Hazard report {hazard_id} is outside the region your key is limited to.")
    return hazard


async def list_hazards(
    session: AsyncSession,
    *,
    principal: Principal,
    status: str | None,
    region_code: str | None,
    since: datetime | None,
    limit: int,
    cursor: str | None,
) -> list[Hazard]:
    """Reports in a subtree (the caller's, or `region_code` inside it), newest first."""
    path = principal.within
    if region_code is not None:
        region = await region_service.get_region(session, region_code)
        if not principal.covers(region.path):
            raise Forbidden(f"Region {region.code} is outside the region your key is limited to.")
        path = region.path
    query = select(Hazard)
    if path is not None:
        query = query.where(Hazard.region_code.in_(codes_within(path)))
    if status is not None:
        if status not in STATUSES:
            raise Unprocessable(f"status must be one of {', '.join(STATUSES)}.",
                                errors=[{"loc": ["query", "status"], "msg": "unknown status"}])  # fmt: skip
        query = query.where(Hazard.status == status)
    if since is not None:
        query = query.where(Hazard.created_at >= since)
    if cursor:
        query = query.where(Hazard.id < cursor)
    return list(await session.scalars(query.order_by(Hazard.id.desc()).limit(limit)))


async def calls_of(
    session: AsyncSession, hazard: Hazard, principal: Principal
) -> tuple[list[Call], list[HazardDispatch]]:
    """The report's calls (to people inside the caller's area), and the departments its whistles called."""
    query = select(Call).where(Call.hazard_id == hazard.id).order_by(Call.id)
    query = scope.calls_in_scope(query, principal)
    dispatches = select(HazardDispatch).where(HazardDispatch.hazard_id == hazard.id).order_by(HazardDispatch.id)
    return list(await session.scalars(query)), list(await session.scalars(dispatches))


async def timeline(
    session: AsyncSession, hazard: Hazard, principal: Principal, *, limit: int, after: int | None
) -> list[AuditEvent]:
    """The report's chain in order, as the record shows it to the caller (a scoped key sees the
    events of its own area, as /audit/events does)."""
    query = select(AuditEvent).where(AuditEvent.chain == audit_service.hazard_chain(hazard.id))
    if principal.within is not None:
        query = query.where(audit_scope.visible_in(principal.within))
    if after is not None:
        query = query.where(AuditEvent.seq > after)
    return list(await session.scalars(query.order_by(AuditEvent.seq).limit(limit)))


async def dispatches_of(session: AsyncSession, hazard_ids: list[str]) -> dict[str, list[HazardDispatch]]:
    """The departments each report's whistles called, by report."""
    found: dict[str, list[HazardDispatch]] = {}
    if hazard_ids:
        for dispatch in await session.scalars(select(HazardDispatch).where(HazardDispatch.hazard_id.in_(hazard_ids))):
            found.setdefault(dispatch.hazard_id, []).append(dispatch)
    return found
