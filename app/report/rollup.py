"""Sealing: a week after a warning ends, its figures are rolled up by township for the reports.

Until then a late answer, a 反馈 or a confirmation may still change them. From then on every path
refuses with 410 (the link, feedback, a manual answer, a confirmation: call.service.ensure_unsealed),
so the rollup is final. The response report then reads a year of warnings from a few rows each and
counts only the calls of warnings not yet sealed (see report.service).

A warning's rollup rows are counted by report.figures, stored here when it is sealed and, on
SQLite, counted on the fly for a report on warnings still open. On PostgreSQL a report counts the
open warnings' calls and regions one a row instead (report.db), by the same definitions, which
tests/report/test_rollup.py holds to: every report reads the same before and after a warning is
sealed.
"""

from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.call.service import FEEDBACK_WINDOW
from app.models.report import ReportRollup
from app.models.warning import Warning
from app.report import db
from app.report.figures import COLUMNS

# Sealed this long after the week ends, so that no write begun before the end is still running.
SEAL_MARGIN = timedelta(hours=1)


async def seal_due(session: AsyncSession, *, now: datetime) -> str | None:
    """Seal one warning whose week has ended: `sealed_at` set and its rollup rows stored, in the
    caller's transaction; returns its id (None when none is due). Processes side by side each take
    another warning (SKIP LOCKED)."""
    due = (
        select(Warning.id)
        .where(Warning.sealed_at.is_(None), Warning.closed_at < now - FEEDBACK_WINDOW - SEAL_MARGIN)
        .order_by(Warning.closed_at)
        .limit(1)
        .with_for_update(skip_locked=True, key_share=True)
    )
    warning_id = await session.scalar(due)
    if warning_id is None:
        return None
    parts = union_all(*db.rollups_counted(session, [warning_id])).subquery()
    keys = [parts.c.warning_id, parts.c.township_digits]
    # A township's calls and its regions come from two selects: one row each, summed (only the
    # calls' row has times).
    figures = [func.max(parts.c[name]) if name == "ack_seconds" else func.sum(parts.c[name]) for name in COLUMNS[2:]]
    rows = select(*keys, *figures).group_by(*keys)
    sealing = update(Warning).where(Warning.id == warning_id, Warning.sealed_at.is_(None)).values(sealed_at=now)
    if (await session.execute(sealing.returning(Warning.id))).scalar() is None:
        return None  # sealed by another process meanwhile
    await session.execute(insert(ReportRollup).from_select(COLUMNS, rows))
    return str(warning_id)
