"""Departments: created under a county's office, found by id or by name within a county."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.auth import scope
from app.auth.service import Principal
from app.department.schemas import DepartmentIn
from app.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.models.department import Department
from app.models.region import Region
from app.region import service as region_service

# Departments serve a county, or the level that plays its part (a prefecture with townships below it).
LEVELS = ("province", "prefecture", "county")


async def create_department(
    session: AsyncSession, data: DepartmentIn, *, principal: Principal, now: datetime
) -> Department:
    """Register a department of a county; 409 if the county has one of that name."""
    region = await region_service.get_region(session, data.region_code)
    if region.level not in LEVELS:
        raise Unprocessable(
            f"{region.name} ({region.code}) is a {region.level}; departments belong to a county.",
            errors=[{"loc": ["body", "region_code"], "msg": f"a {region.level} has no departments"}],
        )
    if not principal.covers(region.path):
        raise Forbidden(f"Region {region.code} is outside the region your key is limited to ({principal.region_code}).")
    if await find_by_name(session, region.code, data.name) is not None:
        raise Conflict(f"{region.name} already has a department named {data.name}.")
    department = Department(name=data.name, region_code=region.code, created_at=now)
    session.add(department)
    await session.flush()
    event = audit_service.Event(
        type="department.changed", actor=principal.name, region_code=region.code,
        data={"action": "created", "department_id": department.id, "name": department.name},
    )  # fmt: skip
    await audit_service.record_event(session, event, now=now)
    return department


async def get_department(session: AsyncSession, department_id: str) -> Department:
    """The department with this id, or 404."""
    department = await session.get(Department, department_id)
    if department is None:
        raise NotFound(f"No department has id {department_id!r}.")
    return department


async def find_by_name(session: AsyncSession, county_code: str, name: str) -> Department | None:
    query = select(Department).where(Department.region_code == county_code, Department.name == name)
    return await session.scalar(query)


async def county_of(session: AsyncSession, region: Region) -> Region | None:
    """The county a region lies in (itself for a county; the prefecture where counties are skipped)."""
    for ancestor in reversed(await region_service.get_ancestry(session, region)):
        if ancestor.level in LEVELS:
            return ancestor
    return None


async def list_departments(
    session: AsyncSession, *, principal: Principal, region_code: str | None, limit: int, cursor: str | None
) -> list[Department]:
    """Departments of a county (or of every county in the caller's area), by id."""
    query = select(Department).order_by(Department.id).limit(limit)
    if region_code is not None:
        region = await region_service.get_region(session, region_code)
        query = query.where(Department.region_code == region.code)
    else:
        query = scope.in_subtree(query, Department.region_code, principal.within)
    if cursor:
        query = query.where(Department.id > cursor)
    return list(await session.scalars(query))


async def of_region(session: AsyncSession, region_code: str, *, limit: int) -> list[Department]:
    """The departments of an office (a county's), by name."""
    query = select(Department).where(Department.region_code == region_code).order_by(Department.name)
    return list(await session.scalars(query.limit(limit)))
