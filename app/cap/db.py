"""SQL for taking CAP messages in that only one database speaks, each statement named for what it does."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import is_postgresql


async def lock_sender(session: AsyncSession, sender_name: str) -> None:
    """Decide the messages of one CAP sender one at a time, until this transaction ends: an Alert
    and its Update arriving together each see the other once it is decided. PostgreSQL: a
    transaction-scoped advisory lock on the sender's name; SQLite's writes are one at a time
    already, so there is nothing to take."""
    if is_postgresql(session):
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"), {"name": f"jiaoying.cap:{sender_name}"}
        )
