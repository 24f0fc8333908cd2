"""A warning's timeline: the events of its chain, as far as the caller's region lets it see them."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.auth import scope
from app.auth.service import Principal
from app.models.audit import AuditEvent
from app.models.call import Call
from app.models.region import Region, codes_within
from app.models.warning import Warning, WarningRegion


def _about_subtree(warning: Warning, path: str, *, own_events: bool) -> Any:
    """Events of calls to people in the subtree, and events of its regions (and, with `own_events`,
    the warning's own events, which name no region)."""
    calls_here = scope.in_subtree(select(Call.id).where(Call.warning_id == warning.id), Call.contact_region_code, path)
    regions_here = codes_within(path)
    about_region: Any = AuditEvent.region_code.in_(regions_here)
    if own_events:
        about_region = or_(AuditEvent.region_code.is_(None), about_region)
    return or_(AuditEvent.call_id.in_(calls_here), and_(AuditEvent.call_id.is_(None), about_region))


def events_query(
    warning: Warning,
    principal: Principal,
    *,
    after: int | None = None,
    types: Sequence[str] = (),
    region_path: str | None = None,
) -> Select[tuple[AuditEvent]]:
    """The warning's events in order after `after`; a scoped key sees its own subtree's calls and
    regions, and the warning's own events. `types` and `region_path` narrow it further."""
    chain = audit_service.warning_chain(warning.id)
    query = select(AuditEvent).where(AuditEvent.chain == chain).order_by(AuditEvent.seq)
    if after is not None:
        query = query.where(AuditEvent.seq > after)
    if principal.within is not None:
        query = query.where(_about_subtree(warning, principal.within, own_events=True))
    if types:
        query = query.where(AuditEvent.type.in_(list(types)))
    if region_path is not None:
        query = query.where(_about_subtree(warning, region_path, own_events=False))
    return query


async def contact_names(session: AsyncSession, events: Sequence[AuditEvent]) -> dict[str, str]:
    """The name of the person each event's call went to, by call id."""
    call_ids = {event.call_id for event in events if event.call_id}
    if not call_ids:
        return {}
    named = select(Call.id, Call.contact_name).where(Call.id.in_(call_ids))
    return dict((await session.execute(named)).tuples().all())


async def events(
    session: AsyncSession,
    warning: Warning,
    principal: Principal,
    *,
    after: int | None,
    limit: int,
    types: Sequence[str] = (),
    region_path: str | None = None,
) -> list[AuditEvent]:
    """A page of the warning's timeline as the caller may read it (see events_query)."""
    query = events_query(warning, principal, after=after, types=types, region_path=region_path)
    return list(await session.scalars(query.limit(limit)))


async def place_names(session: AsyncSession, codes: set[str]) -> dict[str, str]:
    """The names of the regions the events name."""
    if not codes:
        return {}
    return dict((await session.execute(select(Region.code, Region.name).where(Region.code.in_(codes)))).tuples().all())


async def offices(session: AsyncSession, warning: Warning) -> list[tuple[str, str, str]]:
    """The counties and townships the warning targets (code, name, level), by code: what a timeline
    is narrowed to."""
    rows = await session.execute(
        select(WarningRegion.region_code, WarningRegion.name, WarningRegion.level)
        .where(WarningRegion.warning_id == warning.id, WarningRegion.level.in_(("county", "township")))
        .order_by(WarningRegion.region_code)
    )
    return list(rows.tuples().all())
