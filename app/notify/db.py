"""The outbox's SQL that only one database speaks, named for what it does (the way GoAlert keeps
each engine module's statements in its db.go): services call these and never ask which database
it is."""

from collections import defaultdict
from datetime import datetime

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import chunks, core_rows, is_postgresql
from app.models.call import Call

_MOVE_ON = text(
    "UPDATE calls SET attempts = moved.attempts, next_attempt_at = moved.next_at, priority = moved.priority"
    " FROM unnest(CAST(:ids AS varchar[]), CAST(:attempts AS integer[]), CAST(:next_ats AS timestamptz[]),"
    " CAST(:priorities AS smallint[])) AS moved(id, attempts, next_at, priority) WHERE calls.id = moved.id"
)


async def move_calls_on(session: AsyncSession, moves: list[tuple[str, int, datetime | None, int]]) -> None:
    """Each claimed call to its next attempt (and the priority of a retry)."""
    if not is_postgresql(session):
        # Calls of one fan-out share their clock, so a batch moves on in a few statements.
        grouped: dict[tuple[int, datetime | None, int], list[str]] = defaultdict(list)
        for call_id, attempt, next_at, priority in moves:
            grouped[(attempt, next_at, priority)].append(call_id)
        for (attempt, next_at, priority), call_ids in grouped.items():
            for chunk in chunks(call_ids):
                await core_rows(
                    session,
                    update(Call)
                    .where(Call.id.in_(chunk))
                    .values(attempts=attempt, next_attempt_at=next_at, priority=priority),
                )
        return
    # One statement on PostgreSQL: the tallies' triggers then lock their rows in one order (several
    # statements would take them statement by statement, and two lanes could deadlock).
    ids, attempts, next_ats, priorities = (list(column) for column in zip(*moves, strict=True))
    await core_rows(session, _MOVE_ON, {"ids": ids, "attempts": attempts, "next_ats": next_ats,
                                        "priorities": priorities})  # fmt: skip
