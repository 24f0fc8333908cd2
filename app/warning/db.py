"""The warnings' SQL that only one database speaks, named for what it does (the way GoAlert keeps
each engine module's statements in its db.go): services call these and never ask which database
it is."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import is_postgresql


async def hold_idempotency_key(session: AsyncSession, scope: str, key: str) -> bool:
    """Hold an Idempotency-Key for this transaction; False when another transaction holds it.

    PostgreSQL: a transaction-scoped advisory lock, released by commit, rollback or a crash, so a
    retry after a crash proceeds at once. SQLite transactions are already one at a time.
    """
    if not is_postgresql(session):
        return True
    held = await session.scalar(
        text("SELECT pg_try_advisory_xact_lock(hashtextextended(:name, 0))"),
        {"name": f"jiaoying.idempotency:{scope}:{key}"},
    )
    return bool(held)
