"""Duty payloads: a roster of shifts in, the shift in force and the next ones out, handovers."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.phones import mask
from app.text import MultiLine
from app.times import UtcMoment

ContactId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=26)]
MAX_SHIFTS = 1000


class ShiftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_at: UtcMoment
    ends_at: UtcMoment
    officer_id: ContactId
    leader_id: ContactId | None = None


class RosterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shifts: Annotated[list[ShiftIn], Field(max_length=MAX_SHIFTS)]


class HandoverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[MultiLine, StringConstraints(max_length=2000)]


class PersonOut(BaseModel):
    id: str
    name: str
    phone: str
    role: str
    active: bool


class ShiftOut(BaseModel):
    id: str
    region_code: str | None  # the office's; None for a department's shift
    department_id: str | None = None
    starts_at: datetime
    ends_at: datetime
    officer_id: str
    leader_id: str | None
    officer: PersonOut
    leader: PersonOut | None


class GapOut(BaseModel):
    """A stretch with nobody on duty: what goes to the office then goes to its rank-1 contacts."""

    starts_at: datetime
    ends_at: datetime | None  # None: no shift after it on record


class DutyOut(BaseModel):
    region_code: str  # the office; for a department's roster, its county
    department_id: str | None = None
    at: datetime
    current: ShiftOut | None
    next: list[ShiftOut]
    keeps_roster: bool  # shifts on record lately or to come
    fallback: bool  # keeps a roster but nobody is on duty at `at`: rank-1 contacts are called instead
    next_gap: GapOut | None  # the first gap within 24 hours of `at`


class RosterOut(BaseModel):
    region_code: str  # the office; for a department's roster, its county
    department_id: str | None = None
    shifts: list[ShiftOut]  # every shift that has not ended, in time order


class HandoverOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    region_code: str
    at: datetime
    from_shift_id: str | None
    from_officer: dict[str, Any] | None
    to_shift_id: str | None
    to_officer: dict[str, Any] | None
    note: str
    open_calls: list[dict[str, Any]]
    actor: str


def person(contact: Any, *, masked: bool) -> PersonOut:
    """A contact as a shift shows it (phone masked for auditors)."""
    return PersonOut(
        id=contact.id, name=contact.name, phone=mask(contact.phone) if masked else contact.phone,
        role=contact.role, active=contact.active,
    )  # fmt: skip


def masked_handover(handover: Any, *, masked: bool) -> HandoverOut:
    out = HandoverOut.model_validate(handover)
    if not masked:
        return out
    people = {
        side: {**value, "phone": mask(value["phone"])} if value and value.get("phone") else value
        for side, value in (("from_officer", out.from_officer), ("to_officer", out.to_officer))
    }
    return out.model_copy(update=people)


def shift_out(shift: Any, people: dict[str, Any], *, masked: bool) -> ShiftOut:
    """A shift with its officer and leader as they are on the roster now."""
    leader = people.get(shift.leader_id) if shift.leader_id else None
    return ShiftOut(
        id=shift.id, region_code=shift.region_code, department_id=shift.department_id, starts_at=shift.starts_at,
        ends_at=shift.ends_at,
        officer_id=shift.officer_id, leader_id=shift.leader_id, officer=person(people[shift.officer_id], masked=masked),
        leader=person(leader, masked=masked) if leader is not None else None,
    )  # fmt: skip
