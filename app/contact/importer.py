"""Importing a roster from CSV: checked whole, then upserted by (phone, region_code) in bulk."""

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.auth.service import Principal
from app.bulk import bulk_insert
from app.channels import NAMES as CHANNELS
from app.contact import hooks
from app.contact.service import changed_event
from app.db import analyze, new_id
from app.errors import Forbidden, Unprocessable
from app.i18n import known_language
from app.importing import Problems, Upload, read_rows
from app.models.contact import Contact, Supervision
from app.models.department import Department
from app.models.region import Region, subtree_filter
from app.phones import normalize_mobile
from app.region import service as region_service

REQUIRED = ("name", "phone", "region_code", "role", "rank", "channels")
OPTIONAL = ("supervises", "department", "language")
CHUNK = 1000


@dataclass
class ContactImport:
    created: int
    updated: int
    unchanged: int
    deactivated: int


@dataclass
class _Row:
    line: int
    name: str
    phone: str
    region_code: str
    role: str
    rank: int
    channels: list[str]
    supervises: list[str] | None
    department: str | None  # a department of the contact's county, by name; None: no such column
    language: str | None  # the language the person reads; "": its region's (or above) default; None: no such column
    department_id: str | None = None


def _parse(line: int, raw: dict[str, str], problems: Problems) -> _Row | None:
    bad = problems.count
    name = raw["name"]
    if not name or len(name) > 100:
        problems.add(line, "name must be 1 to 100 characters")
    phone = ""
    try:
        phone = normalize_mobile(raw["phone"])
    except ValueError as exc:
        problems.add(line, str(exc))
    region_code = region_service.normalize_code(raw["region_code"]) or ""
    if not region_code:
        problems.add(line, f"region_code {raw['region_code']!r} is not a 6- or 12-digit region code")
    if len(raw["role"]) > 50:
        problems.add(line, "role must be at most 50 characters")
    rank = int(raw["rank"]) if raw["rank"].isascii() and raw["rank"].isdigit() else 0
    if not 1 <= rank <= 99:
        problems.add(line, f"rank {raw['rank']!r} is not a whole number from 1 (primary) to 99")
    channels = list(dict.fromkeys(c.strip().lower() for c in raw["channels"].split("|") if c.strip()))
    unknown = [c for c in channels if c not in CHANNELS]
    if not channels or unknown:
        shown = ", ".join(unknown) if unknown else "none given"
        problems.add(line, f"channels must be sms and/or voice separated by |; {shown}")
    supervises = None
    if "supervises" in raw:
        codes = [c for c in raw["supervises"].split("|") if c.strip()]
        supervises = [region_service.normalize_code(c) or "" for c in codes]
        bad_codes = [c for c, n in zip(codes, supervises, strict=True) if not n]
        if bad_codes:
            problems.add(line, f"supervises {', '.join(bad_codes)} is not a list of region codes")
        supervises = list(dict.fromkeys(supervises))
    language = raw.get("language")
    if language:
        try:
            language = known_language(language)
        except ValueError as exc:
            problems.add(line, str(exc))
    if problems.count > bad:
        return None
    department = raw["department"].strip() if "department" in raw else None
    if department is not None and len(department) > 100:
        problems.add(line, "department must be at most 100 characters")
        return None
    return _Row(line, name, phone, region_code, raw["role"], rank, channels, supervises, department, language)


def _read_file(source: IO[bytes]) -> tuple[list[_Row], Problems, bool]:
    problems = Problems()
    rows: list[_Row] = []
    seen: dict[tuple[str, str], int] = {}
    for line, raw in read_rows(source, required=REQUIRED, optional=OPTIONAL, problems=problems):
        row = _parse(line, raw, problems)
        if row is None:
            continue
        first = seen.setdefault((row.phone, row.region_code), line)
        if first != line:
            problems.add(line, f"{row.phone} is listed twice for region {row.region_code} (first on line {first})")
            continue
        rows.append(row)
    has_supervises = bool(rows) and rows[0].supervises is not None
    return rows, problems, has_supervises


async def _check_regions(session: AsyncSession, rows: list[_Row], principal: Principal, problems: Problems) -> None:
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


async def _find_departments(session: AsyncSession, rows: list[_Row], paths: dict[str, str], problems: Problems) -> None:
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
    if replace is not None:
        code = region_service.require_code(replace, ("query", "replace"))
        paths = await region_service.get_paths(session, {code})
        if not paths:
            raise Unprocessable(
                f"?replace={code} names no known region.",
                errors=[{"loc": ["query", "replace"], "msg": "unknown region"}],
            )
        region = await region_service.get_region(session, code)
        if not principal.covers(region.path):
            raise Forbidden(f"Region {region.code} is outside your key's region {principal.region_code}.")
        replace = region.code
    rows, problems, has_supervises = await asyncio.to_thread(_read_file, upload.file)
    await _check_regions(session, rows, principal, problems)
    problems.raise_if_any("contacts")

    existing = await _existing(session, sorted({row.region_code for row in rows}))
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    supervisions: dict[str, list[str]] = {}
    events: list[audit_service.Event] = []
    unchanged = 0
    for row in rows:
        before = existing.get((row.phone, row.region_code))
        supervises: list[str] = row.supervises if has_supervises and row.supervises is not None else []
        if not has_supervises and before:
            supervises = before["supervises"]
        department_id = row.department_id if row.department is not None else (before or {}).get("department_id")
        language = (row.language or None) if row.language is not None else (before or {}).get("language")
        after: dict[str, Any] = {
            "id": before["id"] if before else new_id(),
            "name": row.name,
            "phone": row.phone,
            "region_code": row.region_code,
            "role": row.role,
            "rank": row.rank,
            "channels": row.channels,
            "supervises": supervises,
            "department_id": department_id,
            "language": language,
            "active": True,
        }
        if before is not None and all(before[key] == after[key] for key in after):
            unchanged += 1
            continue
        values = {key: after[key] for key in after if key != "supervises"}
        if before is None:
            inserts.append({**values, "created_at": now, "updated_at": now})
            action = "created"
        else:
            updates.append({**values, "updated_at": now, "deactivated_at": None})
            action = "updated" if before["active"] else "reactivated"
        if supervises != (before["supervises"] if before else []):
            supervisions[after["id"]] = supervises
        events.append(changed_event(action, after, before, principal.name))

    await bulk_insert(session, Contact, inserts)
    if updates:
        await session.execute(update(Contact), updates)
    changed = list(supervisions)
    for start in range(0, len(changed), CHUNK):
        await session.execute(delete(Supervision).where(Supervision.contact_id.in_(changed[start : start + CHUNK])))
    links = [{"contact_id": cid, "region_code": code} for cid, codes in supervisions.items() for code in codes]
    await bulk_insert(session, Supervision, links)
    deactivated: list[audit_service.Event] = []
    if replace is not None:
        keep = {
            existing[(row.phone, row.region_code)]["id"] for row in rows if (row.phone, row.region_code) in existing
        }
        keep |= {values["id"] for values in inserts}
        deactivated = await _deactivate_missing(session, replace, keep, principal.name, now)
        gone = [event.data["contact_id"] for event in deactivated]
        await hooks.left(session, gone, actor=principal.name, now=now)
    await audit_service.record_events(session, events + deactivated, now=now)
    if inserts:
        await analyze(session, "contacts", "contact_supervisions")
    return ContactImport(created=len(inserts), updated=len(updates), unchanged=unchanged, deactivated=len(deactivated))
