"""A roster file read and checked row by row (columns, phones, roles, ranks, channels, languages),
before anything is written: each problem named with its line."""

from dataclasses import dataclass
from typing import IO

from app.channels import NAMES as CHANNELS
from app.i18n import known_language
from app.importing import Problems, read_rows
from app.phones import normalize_mobile
from app.region import service as region_service

REQUIRED = ("name", "phone", "region_code", "role", "rank", "channels")
OPTIONAL = ("supervises", "department", "language")


@dataclass
class RosterRow:
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


def _parse(line: int, raw: dict[str, str], problems: Problems) -> RosterRow | None:
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
    return RosterRow(line, name, phone, region_code, raw["role"], rank, channels, supervises, department, language)


def read_roster(source: IO[bytes]) -> tuple[list[RosterRow], Problems, bool]:
    problems = Problems()
    rows: list[RosterRow] = []
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
