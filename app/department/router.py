"""Department routes."""

from typing import Annotated

from fastapi import APIRouter, Query, status

from app.auth.dependencies import DutyOfficerDep, PrincipalDep
from app.db import SessionDep, utc_now
from app.department import service as department_service
from app.department.schemas import DepartmentIn, DepartmentOut
from app.models.department import Department
from app.paging import Page, PageDep, make_page

router = APIRouter(prefix="/api/v1/departments", tags=["departments"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=DepartmentOut)
async def create_department(data: DepartmentIn, session: SessionDep, principal: DutyOfficerDep) -> Department:
    """Register a department of a county, whom a 吹哨 can call."""
    return await department_service.create_department(session, data, principal=principal, now=utc_now())


@router.get("", response_model=Page[DepartmentOut])
async def list_departments(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    region_code: Annotated[str | None, Query(max_length=12)] = None,
) -> Page[DepartmentOut]:
    """Departments of a county, or of every county in the caller's area."""
    rows = await department_service.list_departments(
        session, principal=principal, region_code=region_code, limit=page.fetch, cursor=page.cursor
    )
    return make_page(rows, page, key=lambda d: d.id, item=DepartmentOut.model_validate)


@router.get("/{department_id}", response_model=DepartmentOut)
async def get_department(department_id: str, session: SessionDep, _: PrincipalDep) -> Department:
    """One department."""
    return await department_service.get_department(session, department_id)
