"""The roster: creating, reading, changing and deactivating responsible persons."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.audit import service as audit_service
from app.auth import scope
from app.auth.scope import ensure_covers
from app.auth.service import Principal
from app.contact import hooks
from app.contact.language import languages_of
from app.contact.schemas import ContactIn, ContactOut, ContactPatch
from app.errors import Conflict, NotFound, Unprocessable
from app.models.contact import Contact, Supervision
from app.models.department import Department
from app.models.region import Region, subtree_filter
from app.region import service as region_service

AUDITED_FIELDS = (
    "name",
    "phone",
    "region_code",
    "role",
    "rank",
    "channels",
    "supervises",
    "department_id",
    "language",  # the contact's own: None follows its region's (or above) default
    "active",
)


def snapshot(contact: Contact) -> dict[str, Any]:
    """The contact as the audit record keeps it."""
    return {"id": contact.id, **{name: getattr(contact, name) for name in AUDITED_FIELDS}}


def changed_event(action: str, after: dict[str, Any], before: dict[str, Any] | None, actor: str) -> audit_service.Event:
    """A contact.changed event with the fields that changed, old and new."""
    data: dict[str, Any] = {"action": action, "contact_id": after["id"], "contact": after}
    if before is not None:
        data["changes"] = {
            name: [before.get(name), value]
            for name, value in after.items()
            if name != "id" and before.get(name) != value
        }
    return audit_service.Event(type="contact.changed", actor=actor, region_code=after["region_code"], data=data)


async def check_placement(
    session: AsyncSession, principal: Principal, region_code: str, supervises: list[str]
) -> tuple[str, list[str]]:
    """Normalised region and supervised codes; 422 if unknown or not below the region, 403 out of scope."""
    region = region_service.require_code(region_code, ("body", "region_code"))
    supervised = [region_service.require_code(code, ("body", "supervises", i)) for i, code in enumerate(supervises)]
    paths = await region_service.get_paths(session, {region, *supervised})
    unknown = [code for code in (region, *supervised) if code not in paths]
    if unknown:
        raise Unprocessable(
            f"Unknown region code(s): {', '.join(unknown)}; import the regions first.",
            errors=[
                {
                    "loc": ["body", "region_code" if code == region else "supervises"],
                    "msg": f"unknown region {code}",
                }
                for code in unknown
            ],
        )
    ensure_covers(principal, paths[region], region)
    outside = [code for code in supervised if code == region or not paths[code].startswith(paths[region])]
    if outside:
        raise Unprocessable(
            f"A contact supervises regions below its own region {region}; {', '.join(outside)} is not.",
            errors=[{"loc": ["body", "supervises"], "msg": f"{code} is not below {region}"} for code in outside],
        )
    return region, list(dict.fromkeys(supervised))


async def check_department(session: AsyncSession, department_id: str | None, region_code: str) -> str | None:
    """The department a contact answers for: a department of the contact's county (or above); 422 if not."""
    if department_id is None:
        return None
    department = await session.get(Department, department_id)
    region = await session.get(Region, region_code)
    if department is None:
        raise Unprocessable(f"No department has id {department_id!r}.",
                            errors=[{"loc": ["body", "department_id"], "msg": "unknown department"}])  # fmt: skip
    if region is None or department.region_code not in region.path.split("/"):
        raise Unprocessable(
            f"{department.name} is a department of {department.region_code}; a contact of {region_code} cannot "
            "answer for it.",
            errors=[{"loc": ["body", "department_id"], "msg": "not a department of the contact's county"}],
        )
    return department.id


def _with_supervisions(query: Select[tuple[Contact]]) -> Select[tuple[Contact]]:
    return query.options(selectinload(Contact.supervisions))


async def get_contact(session: AsyncSession, contact_id: str, *, lock: bool = False) -> Contact:
    """The contact with this id, or 404; locked (against a change racing the caller's) if asked."""
    query = _with_supervisions(select(Contact).where(Contact.id == contact_id))
    contact = await session.scalar(query.with_for_update(of=Contact) if lock else query)
    if contact is None:
        raise NotFound(f"No contact has id {contact_id!r}.")
    return contact


async def _find(session: AsyncSession, phone: str, region_code: str) -> Contact | None:
    query = select(Contact).where(Contact.phone == phone, Contact.region_code == region_code)
    return await session.scalar(_with_supervisions(query))


async def create_contact(session: AsyncSession, data: ContactIn, *, principal: Principal, now: datetime) -> Contact:
    """Put a person on the roster (a deactivated one comes back); 409 if already active there."""
    region_code, supervises = await check_placement(session, principal, data.region_code, data.supervises)
    contact = await _find(session, data.phone, region_code)
    before = snapshot(contact) if contact else None
    if contact is not None and contact.active:
        raise Conflict(f"{data.phone} is already on the roster of {region_code} as contact {contact.id}; update it.")
    if contact is None:
        contact = Contact(phone=data.phone, region_code=region_code, created_at=now, supervisions=[])
        session.add(contact)
    contact.name, contact.role, contact.rank = data.name, data.role, data.rank
    contact.channels = list(data.channels)
    contact.department_id = await check_department(session, data.department_id, region_code)
    contact.language = data.language
    contact.supervisions = [Supervision(region_code=code) for code in supervises]
    contact.active, contact.deactivated_at, contact.updated_at = True, None, now
    await session.flush()
    action = "reactivated" if before else "created"
    await audit_service.record_event(session, changed_event(action, snapshot(contact), before, principal.name))
    return contact


async def update_contact(
    session: AsyncSession, contact: Contact, patch: ContactPatch, *, principal: Principal, now: datetime
) -> Contact:
    """Change some of a contact's fields; the old values stay on the audit record."""
    before = snapshot(contact)
    own_path = (await region_service.get_region(session, contact.region_code)).path
    ensure_covers(principal, own_path, contact.region_code)
    fields = patch.model_dump(exclude_unset=True)
    for name in ("name", "phone", "region_code", "role", "rank", "channels", "supervises"):
        if fields.get(name) is None and name in fields:
            raise Unprocessable(f"{name} cannot be null.", errors=[{"loc": ["body", name], "msg": "may not be null"}])
    region_code, supervises = await check_placement(
        session,
        principal,
        fields.get("region_code", contact.region_code),
        fields.get("supervises", contact.supervises),
    )
    phone = fields.get("phone") or contact.phone
    if (phone, region_code) != (contact.phone, contact.region_code):
        other = await _find(session, phone, region_code)
        if other is not None:
            raise Conflict(f"{phone} is already on the roster of {region_code} as contact {other.id}.")
    if phone != contact.phone:  # the report link stays with the post, not with the old number
        contact.report_nonce = contact.report_token_hash = None
    contact.phone, contact.region_code = phone, region_code
    for name in ("name", "role", "rank", "channels", "language"):
        if name in fields:
            setattr(contact, name, fields[name])
    if "department_id" in fields or region_code != before["region_code"]:
        department_id = fields.get("department_id", contact.department_id)
        contact.department_id = await check_department(session, department_id, region_code)
    if supervises != contact.supervises:
        contact.supervisions = [Supervision(region_code=code) for code in supervises]
    after = snapshot(contact)
    if after != before:
        contact.updated_at = now
        await session.flush()
        await audit_service.record_event(session, changed_event("updated", after, before, principal.name))
    return contact


async def deactivate_contact(
    session: AsyncSession, contact: Contact, *, principal: Principal, now: datetime
) -> Contact:
    """Take a person off the roster; the row and its history stay."""
    path = (await region_service.get_region(session, contact.region_code)).path
    ensure_covers(principal, path, contact.region_code)
    if contact.active:
        before = snapshot(contact)
        contact.active, contact.deactivated_at, contact.updated_at = False, now, now
        contact.report_nonce = contact.report_token_hash = None  # the report link dies with the post
        await session.flush()
        # Off the roster, off the ladder: nobody chases a person who no longer answers for a region.
        # (Warning chains before the registry chain, as the roster import does.)
        await hooks.left(session, [contact.id], actor=principal.name, now=now)
        await audit_service.record_event(
            session, changed_event("deactivated", snapshot(contact), before, principal.name)
        )
    return contact


async def present(session: AsyncSession, contacts: Sequence[Contact], *, masked: bool) -> list[ContactOut]:
    """The contacts as the reader sees them, each with the language it reads (its own, else the
    default of its region or the nearest above, else Chinese: contact.language); phone numbers
    masked for auditors."""
    languages = await languages_of(session, [contact.id for contact in contacts])
    return [ContactOut.for_reader(contact, language=languages[contact.id], masked=masked) for contact in contacts]


async def list_contacts(
    session: AsyncSession,
    *,
    principal: Principal,
    region_code: str | None,
    subtree: bool,
    role: str | None,
    include_inactive: bool,
    limit: int,
    cursor: str | None,
) -> list[Contact]:
    """Contacts of a region (or its subtree) within the caller's scope, by id."""
    query = select(Contact).order_by(Contact.id).limit(limit)
    if region_code is not None:
        region = await region_service.get_region(session, region_code)
        ensure_covers(principal, region.path, region.code)
        if subtree:
            query = query.join(Region, Region.code == Contact.region_code).where(
                subtree_filter(Region.path, region.path)
            )
        else:
            query = query.where(Contact.region_code == region.code)
    else:
        query = scope.in_subtree(query, Contact.region_code, principal.within)
    if role:
        query = query.where(Contact.role == role)
    if not include_inactive:
        query = query.where(Contact.active.is_(True))
    if cursor:
        query = query.where(Contact.id > cursor)
    return list(await session.scalars(_with_supervisions(query)))
