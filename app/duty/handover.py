"""Handovers (交接班): the outgoing officer's note, and the calls still open in their hands, on the
record for the incoming officer. Calls already made stay with their recipient."""

from datetime import datetime
from typing import Any

from sqlalchemy import column, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.auth.service import Principal
from app.db import JSONDoc, UTCDateTime
from app.duty import service as duty_service
from app.errors import Conflict
from app.ids import new_id
from app.models.contact import Contact
from app.models.duty import DutyHandover, DutyShift
from app.models.region import Region

# The calls a handover lists, read as plain tables: the duty desk sits below the engine that writes them.
_calls = table(
    "calls", column("id"), column("warning_id"), column("hazard_id"), column("kind"), column("status"),
    column("contact_id"),
    column("about_region_codes", JSONDoc), column("deadline_at", UTCDateTime()), column("created_at"),
)  # fmt: skip
_warnings = table("warnings", column("id"), column("title"), column("level"))
_hazards = table("hazards", column("id"), column("place"), column("category"), column("urgent"))


def sides(
    current: DutyShift | None, previous: DutyShift | None, upcoming: list[DutyShift], now: datetime
) -> tuple[DutyShift | None, DutyShift | None]:
    """(outgoing, incoming) shifts of a handover written at `now`: in the first half of a shift that
    follows another directly, the one just ended hands over to it; otherwise the shift in force (or,
    between shifts, the last one) hands over to the next."""
    if current is not None:
        just_began = now - current.starts_at < current.ends_at - now
        if just_began and previous is not None and previous.ends_at >= current.starts_at:
            return previous, current
        return current, next((s for s in upcoming if s.starts_at >= current.ends_at), None)
    return previous, upcoming[0] if upcoming else None


async def open_calls(session: AsyncSession, contact_id: str) -> list[dict[str, Any]]:
    """The escalation and hazard calls still open in one person's hands, oldest first."""
    query = (
        select(_calls.c.id, _calls.c.warning_id, _calls.c.hazard_id, _calls.c.kind, _calls.c.status,
               _calls.c.about_region_codes, _calls.c.deadline_at, _warnings.c.title, _warnings.c.level,
               _hazards.c.place, _hazards.c.category, _hazards.c.urgent)
        .select_from(_calls.outerjoin(_warnings, _warnings.c.id == _calls.c.warning_id)
                     .outerjoin(_hazards, _hazards.c.id == _calls.c.hazard_id))
        .where(_calls.c.contact_id == contact_id, _calls.c.kind != "alert",
               _calls.c.status.in_(("pending", "notified")))
        .order_by(_calls.c.created_at, _calls.c.id)
    )  # fmt: skip
    return [
        {"call_id": row.id, "kind": row.kind, "status": row.status, "warning_id": row.warning_id,
         "hazard_id": row.hazard_id,
         "title": row.title if row.warning_id else f"{'紧急' if row.urgent else ''}险情：{row.place}{row.category}",
         "level": row.level if row.warning_id else ("red" if row.urgent else "orange"),
         "about_region_codes": list(row.about_region_codes or []), "deadline_at": row.deadline_at.isoformat()}
        for row in (await session.execute(query)).all()
    ]  # fmt: skip


def _who(contact: Contact | None) -> dict[str, str] | None:
    return {"id": contact.id, "name": contact.name, "phone": contact.phone} if contact else None


async def record_handover(
    session: AsyncSession, region: Region, note: str, *, principal: Principal, now: datetime
) -> DutyHandover:
    """Record a handover (交接班) on the record: the note, and the outgoing officer's open calls."""
    duty_service.ensure_can_edit(principal, region)
    current, upcoming = await duty_service.roster_at(session, duty_service.Roster(region), now)
    previous = await session.scalar(
        select(DutyShift)
        .where(DutyShift.region_code == region.code, DutyShift.ends_at <= now)
        .order_by(DutyShift.ends_at.desc())
        .limit(1)
    )
    outgoing, incoming = sides(current, previous, upcoming, now)
    if outgoing is None:
        first = f"; its first shift begins at {upcoming[0].starts_at.isoformat()}" if upcoming else ""
        raise Conflict(
            f"{region.name} has no shift that has begun to hand over from{first}; a handover is written "
            f"by the shift on duty (the roster: PUT /api/v1/duty/{region.code})."
        )
    people = await duty_service.contacts_by_id(session, [s.officer_id for s in (outgoing, incoming) if s is not None])
    handover = DutyHandover(
        id=new_id(), region_code=region.code, at=now, from_shift_id=outgoing.id,
        from_officer=_who(people.get(outgoing.officer_id)),
        to_shift_id=incoming.id if incoming else None,
        to_officer=_who(people.get(incoming.officer_id)) if incoming else None,
        note=note, open_calls=await open_calls(session, outgoing.officer_id), actor=principal.name,
    )  # fmt: skip
    session.add(handover)
    await session.flush()
    event = audit_service.Event(
        type="duty.handover", actor=principal.name, region_code=region.code,
        data={"handover_id": handover.id, "from_shift_id": handover.from_shift_id, "from": handover.from_officer,
              "to_shift_id": handover.to_shift_id, "to": handover.to_officer, "note": note,
              "open_calls": handover.open_calls},
    )  # fmt: skip
    await audit_service.record_event(session, event, now=now)
    return handover


async def list_handovers(
    session: AsyncSession, region_code: str, *, limit: int, cursor: str | None = None
) -> list[DutyHandover]:
    """An office's handovers, newest first."""
    query = select(DutyHandover).where(DutyHandover.region_code == region_code)
    if cursor:
        query = query.where(DutyHandover.id < cursor)
    return list(await session.scalars(query.order_by(DutyHandover.id.desc()).limit(limit)))
