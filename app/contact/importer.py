"""Importing a roster from CSV: checked whole, then upserted by (phone, region_code) in bulk."""

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.auth.service import Principal
from app.bulk import bulk_insert
from app.contact import hooks
from app.contact.roster_file import RosterRow, read_roster
from app.contact.service import changed_event
from app.db import analyze
from app.errors import Forbidden, Unprocessable
from app.ids import new_id
from app.importing import Problems, Upload
from app.models.contact import Contact, Supervision
from app.models.department import Department
from app.models.region import Region, subtree_filter
from app.region import service as region_service

CHUNK = 1000


@dataclass
class ContactImport:
    created: int
    updated: int
    unchanged: int
    deactivated: int


async def _check_regions(
    session: AsyncSession, rows: list[RosterRow], principal: Principal, problems: Problems
) -> None:
    codes = {row.region_code for row in rows} | {code for row in rows for code in row.supervises or ()}
    paths = await region_service.get_paths(session, codes)
    outside: list[int] = []
    for row in rows:
        path = paths.get(row.region_code)
        if path is None:
            problems.add(row.line, f"region {row.region_code} is unknown; import the regions first")
            continue
        if not principal.covers(path):
            outside.append(row.line)
        for code in row.supervises or ():
            if code not in paths:
                problems.add(row.line, f"supervised region {code} is unknown")
            elif code == row.region_code or not paths[code].startswith(path):
                problems.add(row.line, f"supervised region {code} is not below the contact's region {row.region_code}")
    await _find_departments(session, rows, paths, problems)
    if outside:
        lines = ", ".join(str(line) for line in outside[:20])
        raise Forbidden(
            f"{len(outside)} line(s) name regions outside your key's region {principal.region_code} "
            f"(lines {lines}{', ...' if len(outside) > 20 else ''}); nothing was imported."
        )


async def _find_departments(
    session: AsyncSession, rows: list[RosterRow], paths: dict[str, str], problems: Problems
) -> None:
    """Each row's department, named in the file, as a department of the contact's county (or of a
    region above it): its id on the row, or a problem on its line."""
    names = sorted({row.department for row in rows if row.department})
    known: dict[tuple[str, str], str] = {}
    for start in range(0, len(names), CHUNK):
        query = select(Department.id, Department.region_code, Department.name).where(
            Department.name.in_(names[start : start + CHUNK])
        )
        known.update(((code, name), id_) for id_, code, name in (await session.execute(query)).tuples())
    for row in rows:
        if not row.department or row.region_code not in paths:
            continue
        above = reversed([code for code in paths[row.region_code].split("/") if code])
        row.department_id = next(
            (known[(code, row.department)] for code in above if (code, row.department) in known), None
        )
        if row.department_id is None:
            problems.add(row.line, f"department {row.department!r} is not a department of the contact's county; "
                         "create it first (POST /api/v1/departments)")  # fmt: skip


async def _existing(session: AsyncSession, region_codes: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for start in range(0, len(region_codes), CHUNK):
        chunk = region_codes[start : start + CHUNK]
        contacts = await session.execute(
            select(
                Contact.id,
                Contact.name,
                Contact.phone,
                Contact.region_code,
                Contact.role,
                Contact.rank,
                Contact.channels,
                Contact.department_id,
                Contact.language,
                Contact.active,
            ).where(Contact.region_code.in_(chunk))
        )
        for row in contacts.mappings():
            found[(row["phone"], row["region_code"])] = {**row, "supervises": []}
    by_id = {contact["id"]: contact for contact in found.values()}
    ids = list(by_id)
    for start in range(0, len(ids), CHUNK):
        supervised = await session.execute(
            select(Supervision.contact_id, Supervision.region_code)
            .where(Supervision.contact_id.in_(ids[start : start + CHUNK]))
            .order_by(Supervision.region_code)
        )
        for contact_id, code in supervised.tuples():
            by_id[contact_id]["supervises"].append(code)
    return found


async def _deactivate_missing(
    session: AsyncSession, replace: str, keep: set[str], actor: str, now: datetime
) -> list[audit_service.Event]:
    region = await region_service.get_region(session, replace)
    query = (
        select(Contact.id, Contact.name, Contact.phone, Contact.region_code)
        .join(Region, Region.code == Contact.region_code)
        .where(subtree_filter(Region.path, region.path), Contact.active.is_(True))
    )
    events = []
    for contact_id, name, phone, region_code in (await session.execute(query)).tuples():
        if contact_id in keep:
            continue
        before = {"id": contact_id, "name": name, "phone": phone, "region_code": region_code, "active": True}
        events.append(changed_event("deactivated", {**before, "active": False}, before, actor))
    ids = [event.data["contact_id"] for event in events]
    for start in range(0, len(ids), CHUNK):
        await session.execute(
            update(Contact)
            .where(Contact.id.in_(ids[start : start + CHUNK]))
            .values(active=False, deactivated_at=now, updated_at=now, report_nonce=None, report_token_hash=None)
        )
    return events


async def import_contacts(
    session: AsyncSession, upload: Upload, *, principal: Principal, replace: str | None, now: datetime
) -> ContactImport:
    """Check a roster CSV whole, then upsert it; with `replace`, deactivate the subtree's missing contacts."""
    replace = await _replaced(session, replace, principal) if replace is not None else None
    rows, problems, has_supervises = await asyncio.to_thread(read_roster, upload.file)
    await _check_regions(session, rows, principal, problems)
    problems.raise_if_any("contacts")
    existing = await _existing(session, sorted({row.region_code for row in rows}))
    changes = _Changes()
    for row in rows:
        changes.add(row, existing.get((row.phone, row.region_code)), has_supervises, principal.name, now)
    await bulk_insert(session, Contact, changes.inserts)
    if changes.updates:
        await session.execute(update(Contact), changes.updates)
    changed = list(changes.supervisions)
    for start in range(0, len(changed), CHUNK):
        await session.execute(delete(Supervision).where(Supervision.contact_id.in_(changed[start : start + CHUNK])))
    links = [{"contact_id": cid, "region_code": code} for cid, codes in changes.supervisions.items() for code in codes]
    await bulk_insert(session, Supervision, links)
    deactivated: list[audit_service.Event] = []
    if replace is not None:
        keep = {
            existing[(row.phone, row.region_code)]["id"] for row in rows if (row.phone, row.region_code) in existing
        }
        keep |= {values["id"] for values in changes.inserts}
        deactivated = await _deactivate_missing(session, replace, keep, principal.name, now)
        gone = [event.data["contact_id"] for event in deactivated]
        await hooks.left(session, gone, actor=principal.name, now=now)
    await audit_service.record_events(session, changes.events + deactivated, now=now)
    if changes.inserts:
        await analyze(session, "contacts", "contact_supervisions")
    return ContactImport(
        created=len(changes.inserts), updated=len(changes.updates), unchanged=changes.unchanged,
        deactivated=len(deactivated),
    )  # fmt: skip


async def _replaced(session: AsyncSession, replace: str, principal: Principal) -> str:
    """The region whose subtree a replacing import stands for: known, and inside the caller's."""
    code = region_service.require_code(replace, ("query", "replace"))
    if not await region_service.get_paths(session, {code}):
        raise Unprocessable(
            f"?replace={code} names no known region.",
            errors=[{"loc": ["query", "replace"], "msg": "unknown region"}],
        )
    region = await region_service.get_region(session, code)
    if not principal.covers(region.path):
        raise Forbidden(f"Region {region.code} is outside your key's region {principal.region_code}.")
    return region.code


@dataclass
class _Changes:
    """What the file changes on the roster: rows to insert and update, supervisions to set anew, the
    record's events, and how many rows were already as stored."""

    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    supervisions: dict[str, list[str]] = field(default_factory=dict)
    events: list[audit_service.Event] = field(default_factory=list)
    unchanged: int = 0

    def add(
        self, row: RosterRow, before: dict[str, Any] | None, has_supervises: bool, actor: str, now: datetime
    ) -> None:
        """One row of the file against the person as stored (None: new)."""
        supervises: list[str] = row.supervises if has_supervises and row.supervises is not None else []
        if not has_supervises and before:
            supervises = before["supervises"]
        department_id = row.department_id if row.department is not None else (before or {}).get("department_id")
        language = (row.language or None) if row.language is not None else (before or {}).get("language")
        after: dict[str, Any] = {
            "id": before["id"] if before else new_id(), "name": row.name, "phone": row.phone,
            "region_code": row.region_code, "role": row.role, "rank": row.rank, "channels": row.channels,
            "supervises": supervises, "department_id": department_id, "language": language, "active": True,
        }  # fmt: skip
        if before is not None and all(before[key] == after[key] for key in after):
            self.unchanged += 1
            return
        values = {key: after[key] for key in after if key != "supervises"}
        if before is None:
            self.inserts.append({**values, "created_at": now, "updated_at": now})
            action = "created"
        else:
            self.updates.append({**values, "updated_at": now, "deactivated_at": None})
            action = "updated" if before["active"] else "reactivated"
        if supervises != (before["supervises"] if before else []):
            self.supervisions[after["id"]] = supervises
        self.events.append(changed_event(action, after, before, actor))
