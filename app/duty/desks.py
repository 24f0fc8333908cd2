"""The offices the duty page lists: those of a key's area that keep a duty desk, or, for a key of
the whole country, those that keep a roster (a shift in the last KEEPS_ROSTER)."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.duty.service import DESK_LEVELS, KEEPS_ROSTER
from app.models.duty import DutyShift
from app.models.region import Region, subtree_filter


async def offices(session: AsyncSession, *, within: str | None, now: datetime, limit: int) -> list[Region]:
    """Up to `limit` offices in the subtree at `within` (None: the country's that keep a roster), by path."""
    if within is not None:
        query = select(Region).where(subtree_filter(Region.path, within), Region.level.in_(DESK_LEVELS))
    else:
        keeping = select(DutyShift.region_code).where(DutyShift.ends_at > now - KEEPS_ROSTER)
        query = select(Region).where(Region.code.in_(keeping))
    return list(await session.scalars(query.order_by(Region.path).limit(limit)))
