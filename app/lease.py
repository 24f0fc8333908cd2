"""The scheduler lease: on SQLite, one process at a time runs the heartbeat's jobs.

PostgreSQL needs none: every job claims its work with row locks (SKIP LOCKED), so any number of
processes share it. SQLite has no such locks, so there the heartbeat holds a lease row, renewed
every tick; a second process finds it held, stands down (and says so once in its log), and takes
over if the holder stops renewing for LEASE_SECONDS.
"""

from datetime import datetime, timedelta

from sqlalchemy import String, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, dialect_insert

HEARTBEAT = "heartbeat"
LEASE_SECONDS = 15.0


class SchedulerLease(Base):
    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(80))
    expires_at: Mapped[datetime]


async def hold(session: AsyncSession, holder: str, *, now: datetime, seconds: float = LEASE_SECONDS) -> bool:
    """Take or renew the lease for `holder`; False while another holder's lease runs."""
    expires = now + timedelta(seconds=seconds)
    await session.execute(
        dialect_insert(session)(SchedulerLease)
        .values(name=HEARTBEAT, holder=holder, expires_at=expires)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    taken = await session.execute(
        update(SchedulerLease)
        .where(
            SchedulerLease.name == HEARTBEAT,
            or_(SchedulerLease.holder == holder, SchedulerLease.expires_at <= now),
        )
        .values(holder=holder, expires_at=expires)
        .returning(SchedulerLease.holder)
    )
    return taken.scalar() is not None
