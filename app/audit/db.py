"""The record's SQL that only one database speaks, or that is plain SQL for speed, named for what it
does (the way GoAlert keeps each engine module's statements in its db.go): the record's services
call these and never ask which database it is."""

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import ColumnElement, Table, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import core_rows, driver_connection, get_database
from app.models.audit import AuditEvent

# Creates a missing head; on an existing one the no-op update takes the row lock and returns it.
# Plain SQL, the same on both databases: SQLAlchemy does not cache a compiled ON CONFLICT DO UPDATE.
_LOCK_HEAD = text(
    "INSERT INTO audit_chain_heads (chain, hash, length) VALUES (:chain, :genesis, 0)"
    " ON CONFLICT (chain) DO UPDATE SET chain = excluded.chain RETURNING hash, length"
)


async def lock_chain_head(session: AsyncSession, chain: str, genesis: str) -> tuple[str, int]:
    """The chain's head (hash, length), its row locked until commit, so concurrent writers queue
    instead of forking: one statement."""
    last_hash, length = (await core_rows(session, _LOCK_HEAD, {"chain": chain, "genesis": genesis})).one()
    return last_hash, length


class Row(NamedTuple):
    """An event as the verification walks it."""

    seq: int
    at: datetime
    type: str
    chain: str
    warning_id: str | None
    call_id: str | None
    region_code: str | None
    actor: str
    data: Any
    hash: str
    prev_hash: str
    request_id: str | None
    hazard_id: str | None


async def events_in_chain_order(session: AsyncSession) -> AsyncIterator[Any]:
    """Every event in (chain, seq) order, streamed. On PostgreSQL straight from the driver's cursor:
    SQLAlchemy's per-row processing would be most of the time of a walk over a million events."""
    sql = f"SELECT {', '.join(Row._fields)} FROM audit_events ORDER BY chain, seq"
    driver = await driver_connection(session)
    dialect = session.bind.dialect
    if dialect.name == "postgresql":  # asyncpg decodes times and JSON itself
        async for record in driver.cursor(sql, prefetch=10_000):
            yield Row(*record.values())
        return
    # SQLite: times and JSON come as text, turned into values by the columns' own processors.
    table = cast(Table, AuditEvent.__table__)
    at_value = table.c.at.type.dialect_impl(dialect).result_processor(dialect, None)
    data_value = table.c.data.type.dialect_impl(dialect).result_processor(dialect, None)
    assert at_value is not None and data_value is not None
    cursor = await driver.execute(sql)
    while rows := await cursor.fetchmany(10_000):
        for row in rows:
            seq, at, type_, chain, warning_id, call_id, region_code, actor, data, hash_, prev_hash, request, hazard = (
                row
            )
            yield Row(seq, cast(datetime, at_value(at)), type_, chain, warning_id, call_id, region_code, actor,
                       data_value(data), hash_, prev_hash, request, hazard)  # fmt: skip


_OVERLAP = (
    "EXISTS (SELECT 1 FROM {elements} WHERE substr(p.value, 1, length(:own)) = :own"
    " OR substr(:own, 1, length(p.value)) = p.value)"
)


def warnings_overlapping(path: str) -> ColumnElement[bool]:
    """Warnings whose area paths overlap the subtree at `path` (each database's JSON functions)."""
    elements = (
        "json_each(warnings.area_paths) AS p"
        if get_database().is_sqlite
        else "jsonb_array_elements_text(warnings.area_paths) AS p(value)"
    )
    # A bind of its own each time: one query may ask for two subtrees (a region inside the caller's).
    return text(_OVERLAP.format(elements=elements)).bindparams(bindparam("own", path, unique=True))  # type: ignore[return-value]
