"""Which events of the record a key scoped to a region may read, as SQL (so that pages are filled
by the database, not filtered after they are read).

A scoped key sees, of the warnings whose areas overlap its subtree, their warning-level events
(`warning.*`); every event about a call inside its subtree (`message.*`, `call.*`, feedback,
replies), whatever the event itself names; every event naming a region inside its subtree (the
roster, regions reached); and every policy change. The tables of the chain's subjects are named
here as plain SQL tables: the record sits below the packages that write them.
"""

from datetime import datetime

from sqlalchemy import ColumnElement, and_, column, exists, or_, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import db as audit_db
from app.audit.service import warning_chain
from app.models.audit import AuditEvent
from app.models.region import codes_within

_calls = table("calls", column("id"), column("contact_region_code"))
_warnings = table("warnings", column("id"))


# A warning overlaps a subtree when one of its areas lies inside it, or the subtree inside the area.
def visible_in(path: str) -> ColumnElement[bool]:
    """The events a key scoped to the subtree at `path` may read (see the module)."""
    codes = codes_within(path)
    call_inside = exists().where(_calls.c.id == AuditEvent.call_id, _calls.c.contact_region_code.in_(codes))
    overlapping = select(_warnings.c.id).where(audit_db.warnings_overlapping(path))
    return or_(
        AuditEvent.type == "policy.changed",
        and_(AuditEvent.type.like("warning.%"), AuditEvent.warning_id.in_(overlapping)),
        and_(AuditEvent.call_id.is_not(None), call_inside),
        AuditEvent.region_code.in_(codes),
    )


async def events(
    session: AsyncSession,
    *,
    after: int | None,
    since: datetime | None,
    until: datetime | None,
    type: str | None,
    warning_id: str | None,
    within: str | None,
    reader_within: str | None,
    limit: int,
) -> list[AuditEvent]:
    """Events in order (`seq`), filtered: a warning's are its chain's (see service.record_events); a
    subtree's (`within`), and all a scoped reader sees (`reader_within`), as a key scoped there sees
    them."""
    query = select(AuditEvent).order_by(AuditEvent.seq).limit(limit)
    if after is not None:
        query = query.where(AuditEvent.seq > after)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if until is not None:
        query = query.where(AuditEvent.at < until)
    if type:
        query = query.where(AuditEvent.type == type)
    if warning_id:
        query = query.where(AuditEvent.chain == warning_chain(warning_id))
    for path in (within, reader_within):
        if path is not None:
            query = query.where(visible_in(path))
    return list(await session.scalars(query))
