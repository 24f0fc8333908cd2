"""The region import's SQL, each database's own (a COPY into a temporary table and two statements
on PostgreSQL, an upsert through the driver on SQLite), named for what it does: the importer calls
these and never asks which database it is."""

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import driver_connection, is_postgresql
from app.models.region import PATH_SEPARATOR
from app.region.tree import RegionTree


async def serialise_imports(session: AsyncSession) -> None:
    """One import at a time: each checks the tree as the previous one left it.

    SQLite transactions already hold the write lock from their start (see app.db); PostgreSQL
    takes a transaction-scoped advisory lock.
    """
    if is_postgresql(session):
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('jiaoying.regions.import'))"))


async def write_regions(
    session: AsyncSession, batches: AsyncIterator[list[tuple[Any, ...]]], *, keep: set[str], created: int
) -> int:
    """Write the checked rows (`created` of them new); returns how many known regions changed, a row
    the same as stored being left alone. `keep`: the optional columns the file does not set."""
    if is_postgresql(session):
        return await _write_postgresql(session, batches, keep)
    return await _write_sqlite(session, batches, keep) - created


_COLUMNS = ("code", "name", "level", "parent_code", "path", "abolished", "language", "updated_at")


async def _write_postgresql(
    session: AsyncSession, batches: AsyncIterator[list[tuple[Any, ...]]], keep: set[str]
) -> int:
    """Write the rows; returns how many known regions changed (a row the same as stored is left alone).
    `keep`: the optional columns the file does not set, left as stored."""
    driver = await driver_connection(session)
    await driver.execute(
        "CREATE TEMP TABLE region_import (code varchar(12), name varchar(100), level varchar(12),"
        ' parent_code varchar(12), path varchar COLLATE "C", abolished boolean, language varchar(12),'
        " updated_at timestamptz, is_new boolean) ON COMMIT DROP"
    )

    async def records() -> AsyncIterator[tuple[Any, ...]]:
        async for batch in batches:
            for record in batch:
                yield record

    # One COPY fed as the file is parsed: PostgreSQL ingests on its own core meanwhile.
    await driver.copy_records_to_table("region_import", records=records(), columns=[*_COLUMNS, "is_new"])
    # New rows (known from the checked tree) go in with a plain INSERT, much cheaper than an upsert;
    # imports are serialised (see serialise_imports), so no other writer can have added them meanwhile.
    await driver.execute(
        f"""INSERT INTO regions ({", ".join(_COLUMNS)})
            SELECT code, name, level, parent_code, path, coalesce(abolished, false), language, updated_at
            FROM region_import WHERE is_new"""
    )
    abolished = "regions.abolished" if "abolished" in keep else "coalesce(i.abolished, false)"
    language = "regions.language" if "language" in keep else "i.language"
    status = await driver.execute(
        f"""UPDATE regions SET name = i.name, level = i.level, parent_code = i.parent_code, path = i.path,
                abolished = {abolished}, language = {language}, updated_at = i.updated_at
            FROM region_import i
            WHERE i.code = regions.code AND NOT i.is_new
              AND (regions.name, regions.level, regions.parent_code, regions.path, regions.abolished,
                   regions.language)
                  IS DISTINCT FROM (i.name, i.level, i.parent_code, i.path, {abolished}, {language})"""
    )
    return int(status.split()[-1])  # "UPDATE n"


async def _write_sqlite(session: AsyncSession, batches: AsyncIterator[list[tuple[Any, ...]]], keep: set[str]) -> int:
    """Write the rows; returns how many rows were written, new or changed (a row the same as stored
    is left alone). `keep`: the optional columns the file does not set, left as stored."""
    abolished = "regions.abolished" if "abolished" in keep else "excluded.abolished"
    language = "regions.language" if "language" in keep else "excluded.language"
    changed = " OR ".join(
        f"regions.{column} IS NOT {value}"
        for column, value in (("name", "excluded.name"), ("level", "excluded.level"),
                              ("parent_code", "excluded.parent_code"), ("path", "excluded.path"),
                              ("abolished", abolished), ("language", language))
    )  # fmt: skip
    statement = f"""INSERT INTO regions ({", ".join(_COLUMNS)}) VALUES (?, ?, ?, ?, ?, coalesce(?, 0), ?, ?)
        ON CONFLICT (code) DO UPDATE SET name = excluded.name, level = excluded.level,
            parent_code = excluded.parent_code, path = excluded.path, abolished = {abolished},
            language = {language}, updated_at = excluded.updated_at
        WHERE {changed}"""
    # The driver directly: SQLAlchemy's per-row parameter processing would double the time here.
    driver = await driver_connection(session)
    written = 0
    async for batch in batches:
        stamp = batch[0][-2].strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite datetime format
        cursor = await driver.executemany(statement, [(*values[:-2], stamp) for values in batch])
        written += max(cursor.rowcount, 0)
    return written


async def move_descendants(session: AsyncSession, moved: dict[str, str], tree: RegionTree) -> None:
    """Re-root the paths of regions under a moved region that the file did not list."""
    for code, old_path in sorted(moved.items(), key=lambda item: -len(item[1])):
        new_path = tree.path(int(code))
        end = old_path[:-1] + chr(ord(PATH_SEPARATOR) + 1)
        await session.execute(
            text("UPDATE regions SET path = :new || substr(path, :cut) WHERE path > :old AND path < :end"),
            {"new": new_path, "cut": len(old_path) + 1, "old": old_path, "end": end},
        )
