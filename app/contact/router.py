"""Roster routes: responsible persons and the regions they supervise."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from app.auth.dependencies import DutyOfficerDep, PrincipalDep
from app.auth.scope import ensure_covers
from app.config import SettingsDep
from app.contact import importer
from app.contact import service as contact_service
from app.contact.schemas import ContactImportOut, ContactIn, ContactOut, ContactPatch
from app.db import SessionDep, utc_now
from app.importing import csv_body, spool_upload
from app.models.contact import Contact
from app.paging import Page, PageDep, make_page
from app.region import service as region_service

router = APIRouter(prefix="/api/v1/contacts", tags=["contacts"])


async def valid_contact(contact_id: str, session: SessionDep, principal: PrincipalDep) -> Contact:
    """The contact named in the path (404), if it lies in the caller's region (403)."""
    contact = await contact_service.get_contact(session, contact_id)
    region = await region_service.get_region(session, contact.region_code)
    ensure_covers(principal, region.path, region.code)
    return contact


ContactDep = Annotated[Contact, Depends(valid_contact)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ContactOut)
async def create_contact(data: ContactIn, session: SessionDep, principal: DutyOfficerDep) -> ContactOut:
    """Put a responsible person on the roster of a region."""
    contact = await contact_service.create_contact(session, data, principal=principal, now=utc_now())
    [out] = await contact_service.present(session, [contact], masked=False)
    return out


@router.post(
    "/import", response_model=ContactImportOut, openapi_extra=csv_body("name,phone,region_code,role,rank,channels")
)
async def import_contacts(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: DutyOfficerDep,
    replace: Annotated[
        str | None, Query(description="Also deactivate this subtree's contacts missing from the file.")
    ] = None,
) -> ContactImportOut:
    """Upsert contacts from CSV by (phone, region_code); all or nothing."""
    upload = await spool_upload(request, limit=settings.max_import_bytes)
    try:
        result = await importer.import_contacts(session, upload, principal=principal, replace=replace, now=utc_now())
    finally:
        upload.close()
    return ContactImportOut(**result.__dict__)


@router.get("", response_model=Page[ContactOut])
async def list_contacts(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    region_code: Annotated[str | None, Query(max_length=12)] = None,
    subtree: Annotated[bool, Query(description="Include every region under region_code.")] = False,
    role: Annotated[str | None, Query(max_length=50)] = None,
    include_inactive: bool = False,
) -> Page[ContactOut]:
    """Contacts of a region or subtree, within the caller's region."""
    rows = await contact_service.list_contacts(
        session,
        principal=principal,
        region_code=region_code,
        subtree=subtree,
        role=role,
        include_inactive=include_inactive,
        limit=page.fetch,
        cursor=page.cursor,
    )
    shown = await contact_service.present(session, rows, masked=principal.role == "auditor")
    return make_page(shown, page, key=lambda c: c.id, item=lambda c: c)


@router.get("/{contact_id}", response_model=ContactOut)
async def get_contact(contact: ContactDep, session: SessionDep, principal: PrincipalDep) -> ContactOut:
    """One contact, active or not (phone masked for auditors)."""
    [out] = await contact_service.present(session, [contact], masked=principal.role == "auditor")
    return out


@router.patch("/{contact_id}", response_model=ContactOut)
async def update_contact(
    contact: ContactDep, patch: ContactPatch, session: SessionDep, principal: DutyOfficerDep
) -> ContactOut:
    """Change a contact's details; the previous values stay on the audit record."""
    contact = await contact_service.update_contact(session, contact, patch, principal=principal, now=utc_now())
    [out] = await contact_service.present(session, [contact], masked=False)
    return out


@router.delete("/{contact_id}", response_model=ContactOut)
async def deactivate_contact(contact: ContactDep, session: SessionDep, principal: DutyOfficerDep) -> ContactOut:
    """Deactivate a contact: off the roster from now on, history kept."""
    contact = await contact_service.deactivate_contact(session, contact, principal=principal, now=utc_now())
    [out] = await contact_service.present(session, [contact], masked=False)
    return out
