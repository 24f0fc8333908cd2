"""Hazard report payloads."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.call.schemas import CallOut
from app.contact.schemas import Phone
from app.text import MultiLine, SingleLine

Source = Literal["phone", "radio", "in_person", "sms", "link", "other"]


class HazardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=12)]
    category: Annotated[SingleLine, StringConstraints(min_length=1, max_length=50)]
    description: Annotated[MultiLine, StringConstraints(min_length=1, max_length=2000)]
    people_at_risk: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    urgent: bool = False
    source: Source
    reporter_name: Annotated[SingleLine, StringConstraints(max_length=100)] | None = None
    reporter_phone: Phone | None = None


class WhistleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    department_ids: Annotated[
        list[Annotated[str, StringConstraints(max_length=26)]], Field(min_length=1, max_length=50)
    ]
    instruction: Annotated[MultiLine, StringConstraints(max_length=500)] = ""
    deadline_s: Annotated[float, Field(gt=0, le=7 * 24 * 3600)]


class ProgressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["handling", "resolved"]
    note: Annotated[MultiLine, StringConstraints(max_length=2000)] = ""


class EvaluationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: Literal["satisfied", "unsatisfied"]
    note: Annotated[MultiLine, StringConstraints(max_length=2000)] = ""


class DispatchOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    department_id: str
    department_name: str
    instruction: str
    created_at: datetime
    deadline_at: datetime
    reported_in_at: datetime | None
    escalated_at: datetime | None


class HazardOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    region_code: str
    office_code: str | None
    place: str
    category: str
    description: str
    people_at_risk: int | None
    urgent: bool
    source: str
    reporter_name: str | None
    reporter_phone: str | None
    status: str
    level: str
    created_at: datetime
    created_by: str
    received_at: datetime | None
    dispatched_at: datetime | None
    resolved_at: datetime | None
    evaluated_at: datetime | None
    resolution: str | None
    rating: str | None
    rating_note: str | None


class HazardDetailOut(HazardOut):
    calls: list[CallOut]
    dispatches: list[DispatchOut]


def masked(out: Any, masked: bool) -> Any:
    """Auditors see the reporter's phone masked, as every other."""
    from app.phones import mask

    if masked and out.reporter_phone:
        return out.model_copy(update={"reporter_phone": mask(out.reporter_phone)})
    return out


class ReportLinkOut(BaseModel):
    """A new report link on its way: the SMS that carries it (the link itself is never stored)."""

    contact_id: str
    message_id: str
    to: str
    status: str
