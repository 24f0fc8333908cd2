"""The calls' SQL that only one database speaks, named for what it does (the way GoAlert keeps each
engine module's statements in its db.go): services call these and never ask which database it is."""

from typing import Any

from sqlalchemy import column, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import is_postgresql
from app.models.call import OPEN_STATUSES, Call


def tallies_kept(session: AsyncSession) -> bool:
    """Whether the database keeps the calls' tallies by trigger (PostgreSQL; SQLite counts the calls
    when asked, see call.tally)."""
    return is_postgresql(session)


async def lock_calls(session: AsyncSession, *conditions: Any) -> list[str]:
    """Lock the matching calls in id order before a multi-row update, so that writers updating
    overlapping sets of calls queue rather than deadlock (PostgreSQL; SQLite has one writer)."""
    if not is_postgresql(session):
        return []
    query = select(Call.id).where(*conditions).order_by(Call.id).with_for_update(key_share=True)
    return list((await session.execute(query)).scalars())


# The reports of calls about hazard reports, as a plain table: the calls sit below the reports.
_reports = table("hazards", column("id"))


async def lock_reports(session: AsyncSession, hazard_ids: Any) -> None:
    """Before answering calls about hazard reports: their reports locked in id order, then the
    reports' open calls in id order. The order every step of a report takes (hazard.steps), so an
    answer, a step, the chase and the sender queue instead of deadlocking (PostgreSQL)."""
    ids = sorted({hazard_id for hazard_id in hazard_ids if hazard_id})
    if not ids or not is_postgresql(session):
        return
    await session.execute(select(_reports.c.id).where(_reports.c.id.in_(ids)).order_by(_reports.c.id).with_for_update())
    await lock_calls(session, Call.hazard_id.in_(ids), Call.status.in_(OPEN_STATUSES))
