"""Lists of warnings, their regions and their calls, as the caller may read them: scope and pages in
SQL, so a page is filled by the database whatever the caller's region."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import scope
from app.auth.service import Principal
from app.models.call import Call
from app.models.warning import Warning, WarningRegion


async def list_warnings(
    session: AsyncSession,
    *,
    principal: Principal,
    status: str | None,
    mode: str | None,
    since: datetime | None,
    limit: int,
    cursor: str | None,
) -> list[Warning]:
    """Warnings the caller may read (their areas overlap its subtree), newest first."""
    query = select(Warning).order_by(Warning.id.desc())
    if status:
        query = query.where(Warning.status == status)
    if mode:
        query = query.where(Warning.mode == mode)
    if since:
        query = query.where(Warning.created_at >= since)
    if cursor:
        query = query.where(Warning.id < cursor)
    return list(await session.scalars(scope.warnings_in_scope(query, principal).limit(limit)))


async def list_regions(
    session: AsyncSession, warning: Warning, *, state: str | None, level: str | None, limit: int, cursor: str | None
) -> list[WarningRegion]:
    """The warning's targeted regions with their state, by code."""
    query = select(WarningRegion).where(WarningRegion.warning_id == warning.id).order_by(WarningRegion.region_code)
    if state:
        query = query.where(WarningRegion.state == state)
    if level:
        query = query.where(WarningRegion.level == level)
    if cursor:
        query = query.where(WarningRegion.region_code > cursor)
    return list(await session.scalars(query.limit(limit)))


async def list_calls(
    session: AsyncSession,
    warning: Warning,
    principal: Principal,
    *,
    status: str | None,
    kind: str | None,
    after: str | None,
    limit: int,
) -> list[Call]:
    """The warning's calls to people in the caller's region, by id, after a cursor."""
    query = select(Call).where(Call.warning_id == warning.id).order_by(Call.id).limit(limit)
    if status:
        query = query.where(Call.status == status)
    if kind:
        query = query.where(Call.kind == kind)
    if after:
        query = query.where(Call.id > after)
    return list(await session.scalars(scope.calls_in_scope(query, principal)))
