"""Importing regions from CSV: the whole file is checked against the merged tree, then upserted.

Memory stays flat for the whole country (665,271 rows): the tree is held as integer codes in a
dict and typed arrays, never as ORM objects, and the file is re-read from its spool to write.
PostgreSQL gets the rows through COPY into a temporary table and one INSERT ... ON CONFLICT;
SQLite through batched executemany upserts.
"""

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import i18n
from app.audit import service as audit_service
from app.db import analyze
from app.i18n import known_language
from app.importing import Problems, Upload, read_rows
from app.models.region import LEVEL_RANK, LEVELS, PATH_SEPARATOR, Region
from app.region import db as region_db
from app.region.service import normalize_code
from app.region.tree import RegionTree

REQUIRED = ("code", "name", "level", "parent_code")
OPTIONAL = ("abolished", "language")
TRUE_WORDS = {
    "true": True,
    "1": True,
    "yes": True,
    "是": True,
    "false": False,
    "0": False,
    "no": False,
    "否": False,
}
BATCH = 5000
NAME_MAX = 100


@dataclass
class RegionImport:
    created: int
    updated: int


@dataclass
class _Row:
    line: int
    code: str
    name: str
    level: str
    parent_code: str | None
    abolished: bool | None
    language: str | None  # the default of its contacts and regions below; "": none here; None: no such column


def _parse(line: int, raw: dict[str, str], problems: Problems, languages: tuple[str, ...]) -> _Row | None:
    bad = len(problems.listed)
    code = normalize_code(raw["code"])
    if code is None:
        problems.add(line, f"code {raw['code']!r} is not a 6- or 12-digit region code")
    name = raw["name"]
    if not name or len(name) > NAME_MAX:
        problems.add(line, f"name must be 1 to {NAME_MAX} characters")
    level = raw["level"].lower()
    if level not in LEVEL_RANK:
        problems.add(line, f"level {raw['level']!r} is not one of {', '.join(LEVELS)}")
    parent_code = normalize_code(raw["parent_code"]) if raw["parent_code"] else None
    if raw["parent_code"] and parent_code is None:
        problems.add(line, f"parent_code {raw['parent_code']!r} is not a 6- or 12-digit region code")
    elif not raw["parent_code"] and level in LEVEL_RANK and level != "province":
        problems.add(line, f"a {level} needs a parent_code; only provinces stand at the root")
    elif parent_code is not None and parent_code == code:
        problems.add(line, f"region {code} names itself as its parent (a cycle)")
    abolished = None
    if raw.get("abolished"):
        abolished = TRUE_WORDS.get(raw["abolished"].lower())
        if abolished is None:
            problems.add(line, f"abolished {raw['abolished']!r} is not true or false")
    language = raw.get("language")
    if language:
        try:
            language = known_language(language, languages)
        except ValueError as exc:
            problems.add(line, str(exc))
    if len(problems.listed) > bad or code is None:
        return None
    return _Row(line, code, name, level, parent_code, abolished, language)


def _rows(source: IO[bytes], problems: Problems) -> Iterator[_Row]:
    languages = i18n.languages()
    for line, raw in read_rows(source, required=REQUIRED, optional=OPTIONAL, problems=problems):
        row = _parse(line, raw, problems, languages)
        if row is not None:
            yield row


def _check_file(source: IO[bytes], tree: RegionTree) -> tuple[Problems, set[str]]:
    """Overlay the file on the tree and report every bad line; also says which optional columns the
    file sets (`abolished` with a value on some line, `language` in the header): the others keep
    their stored values."""
    problems = Problems()
    has_abolished = has_language = False
    for row in _rows(source, problems):
        has_abolished = has_abolished or row.abolished is not None
        has_language = has_language or row.language is not None
        parent = int(row.parent_code) if row.parent_code else 0
        first = tree.add_from_file(int(row.code), parent, LEVEL_RANK[row.level], row.line)
        if first:
            problems.add(row.line, f"code {row.code} appears twice (first on line {first})")
    for code, index in tree.slot.items():
        parent = tree.parent[index]
        if not parent:
            continue
        line = tree.line[index]
        parent_index = tree.slot.get(parent)
        if parent_index is None:
            if line:
                problems.add(line, f"parent_code {parent:012d} is neither in the file nor imported before")
            continue
        if tree.rank[parent_index] < tree.rank[index]:
            continue
        level, parent_level = LEVELS[tree.rank[index] - 1], LEVELS[tree.rank[parent_index] - 1]
        loop = tree.cycle(code)
        if loop:
            shown = " → ".join(f"{c:012d}" for c in loop)
            problems.add(line or tree.line[parent_index], f"parent codes form a cycle: {shown}")
        elif line:
            problems.add(line, f"a {level} cannot sit under a {parent_level} ({parent:012d}): levels must go down")
        elif tree.line[parent_index]:
            problems.add(
                tree.line[parent_index],
                f"region {parent:012d} cannot become a {parent_level}: its child {code:012d} is a {level}",
            )
    source.seek(0)
    given = {"abolished"} if has_abolished else set()
    return problems, given | ({"language"} if has_language else set())


async def _load_tree(session: AsyncSession) -> RegionTree:
    tree = RegionTree()
    result = await session.stream(select(Region.code, Region.parent_code, Region.level))
    async for partition in result.partitions(20_000):
        for code, parent_code, level in partition:
            tree.add_existing(int(code), int(parent_code) if parent_code else 0, LEVEL_RANK[level])
    return tree


async def _batches(source: IO[bytes], tree: RegionTree, now: datetime) -> AsyncIterator[list[tuple[Any, ...]]]:
    """The file's rows ready to write, in batches; yields to the event loop between batches."""
    batch: list[tuple[Any, ...]] = []
    parent_paths: dict[str, str] = {}  # a few thousand distinct parents: villages share them
    for row in _rows(source, Problems()):
        if row.parent_code is None:
            path = row.code + PATH_SEPARATOR
        else:
            parent_path = parent_paths.get(row.parent_code)
            if parent_path is None:
                parent_path = parent_paths[row.parent_code] = tree.path(int(row.parent_code))
            path = parent_path + row.code + PATH_SEPARATOR
        is_new = not tree.old_rank[tree.slot[int(row.code)]]
        language = row.language or None
        batch.append((row.code, row.name, row.level, row.parent_code, path, row.abolished, language, now, is_new))
        if len(batch) == BATCH:
            yield batch
            batch = []
            await asyncio.sleep(0)
    if batch:
        yield batch


async def import_regions(session: AsyncSession, upload: Upload, *, actor: str, now: datetime) -> RegionImport:
    """Check a regions CSV whole, then upsert it; 422 listing every bad line and nothing written."""
    await region_db.serialise_imports(session)
    tree = await _load_tree(session)
    problems, given = await asyncio.to_thread(_check_file, upload.file, tree)
    problems.raise_if_any("regions")

    created = sum(1 for index in range(len(tree.line)) if tree.line[index] and not tree.old_rank[index])
    total = sum(1 for line in tree.line if line)
    moved_codes = [
        f"{code:012d}"
        for code, index in tree.slot.items()
        if tree.line[index] and tree.old_rank[index] and tree.old_parent[index] != tree.parent[index]
    ]
    moved = {
        code: path
        for code, path in (await session.execute(select(Region.code, Region.path).where(Region.code.in_(moved_codes))))
    }

    batches = _batches(upload.file, tree, now)
    updated = await region_db.write_regions(session, batches, keep=set(OPTIONAL) - given, created=created)
    await region_db.move_descendants(session, moved, tree)
    await analyze(session, "regions")  # a warning's expansion joins the roster to them by path

    # `updated`: known regions that changed; those listed just as they are stored count in neither.
    result = RegionImport(created=created, updated=updated)
    await audit_service.record_event(
        session,
        audit_service.Event(
            type="regions.imported",
            actor=actor,
            data={
                "rows": total,
                "created": result.created,
                "updated": result.updated,
                "moved": sorted(moved),
                "bytes": upload.size,
                "sha256": upload.sha256,
            },
        ),
    )
    return result
