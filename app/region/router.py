"""Region routes: import the tree, search it, read a region with its ancestry and children."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from app.auth.dependencies import AdminDep, PrincipalDep
from app.config import SettingsDep
from app.db import SessionDep, utc_now
from app.importing import csv_body, spool_upload
from app.models.region import Region
from app.paging import Page, PageDep, PageParams, make_page
from app.region import importer
from app.region import service as region_service
from app.region.schemas import RegionDetail, RegionImportOut, RegionOut, RegionRef

router = APIRouter(prefix="/api/v1/regions", tags=["regions"])


async def valid_region(code: str, session: SessionDep, _: PrincipalDep) -> Region:
    """The region named in the path (6 or 12 digits), or 404."""
    return await region_service.get_region(session, code)


RegionDep = Annotated[Region, Depends(valid_region)]


@router.post("/import", response_model=RegionImportOut, openapi_extra=csv_body("code,name,level,parent_code"))
async def import_regions(
    request: Request, session: SessionDep, settings: SettingsDep, principal: AdminDep
) -> RegionImportOut:
    """Upsert regions from CSV (code,name,level,parent_code[,abolished][,language]); all or nothing."""
    upload = await spool_upload(request, limit=settings.max_import_bytes)
    try:
        result = await importer.import_regions(session, upload, actor=principal.name, now=utc_now())
    finally:
        upload.close()
    return RegionImportOut(created=result.created, updated=result.updated)


SEARCH_LIMIT = 50


@router.get("", response_model=Page[RegionOut])
async def search_regions(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    q: Annotated[str, Query(min_length=1, max_length=50, description="Part of a name, or a code's first digits.")],
) -> Page[RegionOut]:
    """Regions in the caller's region whose name contains q or whose code starts with it (at most 50 a page)."""
    page = PageParams(limit=min(page.limit, SEARCH_LIMIT), cursor=page.cursor)
    within = principal.within
    rows = await region_service.search_regions(session, q, within=within, limit=page.fetch, cursor=page.cursor)
    return make_page(rows, page, key=lambda r: r.code, item=RegionOut.model_validate)


@router.get("/{code}", response_model=RegionDetail)
async def get_region(region: RegionDep, session: SessionDep) -> RegionDetail:
    """A region with its path from the root down to itself."""
    ancestry = await region_service.get_ancestry(session, region)
    return RegionDetail(
        **RegionOut.model_validate(region).model_dump(),
        path=[RegionRef.model_validate(r) for r in ancestry],
    )


@router.get("/{code}/children", response_model=Page[RegionOut])
async def list_children(region: RegionDep, session: SessionDep, page: PageDep) -> Page[RegionOut]:
    """The regions directly under this one."""
    rows = await region_service.list_children(session, region, limit=page.fetch, cursor=page.cursor)
    return make_page(rows, page, key=lambda r: r.code, item=RegionOut.model_validate)
