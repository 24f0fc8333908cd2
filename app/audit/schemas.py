"""Audit event payloads."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from app.models.audit import AuditEvent
from app.phones import mask

PHONE_KEYS = ("phone", "to", "from")


def _masked(data: Any) -> Any:
    """Every phone number in an event's data masked, old and new values of a change alike."""
    if isinstance(data, dict):
        return {k: _phone(v) if k in PHONE_KEYS else _masked(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_masked(v) for v in data]
    return data


def _phone(value: Any) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, list):  # a change: [before, after]
        return [_phone(v) for v in value]
    return _masked(value)


class EventOut(BaseModel):
    seq: int
    at: datetime
    type: str
    chain: str
    warning_id: str | None
    call_id: str | None
    hazard_id: str | None = None
    region_code: str | None
    actor: str
    data: dict[str, Any]
    hash: str
    prev_hash: str
    request_id: str | None = None
    # Not part of the record: the name of the person the event's call was to, for readers.
    contact_name: str | None = None

    @classmethod
    def of(cls, event: AuditEvent, *, masked: bool, contact_name: str | None = None) -> "EventOut":
        return cls(
            seq=event.seq,
            at=event.at,
            type=event.type,
            chain=event.chain,
            warning_id=event.warning_id,
            call_id=event.call_id,
            hazard_id=event.hazard_id,
            region_code=event.region_code,
            actor=event.actor,
            data=_masked(event.data) if masked else event.data,
            hash=event.hash,
            prev_hash=event.prev_hash,
            request_id=event.request_id,
            contact_name=contact_name,
        )
