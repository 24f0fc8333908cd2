"""A report's events, written to its own chain of the record."""

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.models.hazard import Hazard


def event(hazard: Hazard, type_: str, actor: str, **data: Any) -> audit_service.Event:
    """An event of the report, for its chain."""
    return audit_service.Event(type=type_, actor=actor, hazard_id=hazard.id, region_code=hazard.region_code, data=data)


async def record(session: AsyncSession, hazard: Hazard, events: list[audit_service.Event], now: datetime) -> None:
    """Write the events to the report's own chain of the record."""
    await audit_service.record_events(session, events, chain=audit_service.hazard_chain(hazard.id), now=now)
