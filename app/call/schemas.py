"""Call payloads."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.models.call import Call
from app.phones import mask
from app.text import MultiLine


class CallContact(BaseModel):
    id: str
    name: str
    phone: str
    region_code: str
    role: str
    rank: int


class CallOut(BaseModel):
    id: str
    warning_id: str | None
    hazard_id: str | None = None
    # A call about a hazard report: what it asks (receive 接报, dispatch 报到, escalate 督办,
    # evaluate 末端评价), and the department a dispatch is for.
    hazard_step: str | None = None
    department_id: str | None = None
    kind: str
    contact: CallContact
    region_codes: list[str]
    status: str
    attempts: int
    deadline_at: datetime
    notified_at: datetime | None
    acknowledged_at: datetime | None
    ack_method: str | None
    late: bool
    escalated_from: str | None
    about_region_codes: list[str]
    feedback_count: int

    @classmethod
    def of(cls, call: Call, *, masked: bool) -> "CallOut":
        contact = CallContact(
            id=call.contact_id,
            name=call.contact_name,
            phone=mask(call.contact_phone) if masked else call.contact_phone,
            region_code=call.contact_region_code,
            role=call.contact_role,
            rank=call.contact_rank,
        )
        return cls(
            id=call.id,
            warning_id=call.warning_id,
            hazard_id=call.hazard_id,
            hazard_step=call.hazard_step,
            department_id=call.department_id,
            kind=call.kind,
            contact=contact,
            region_codes=call.region_codes,
            status=call.status,
            attempts=call.attempts,
            deadline_at=call.deadline_at,
            notified_at=call.notified_at,
            acknowledged_at=call.acknowledged_at,
            ack_method=call.ack_method,
            late=call.late,
            escalated_from=call.escalated_from,
            about_region_codes=call.about_region_codes,
            feedback_count=call.feedback_count,
        )


class ManualAckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["phone", "in_person", "radio", "other"]
    note: Annotated[MultiLine, StringConstraints(max_length=500)] = ""


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: Literal["initial", "follow_up", "final"]
    actions: Annotated[MultiLine, StringConstraints(max_length=2000)] = ""
    evacuated: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    note: Annotated[MultiLine, StringConstraints(max_length=2000)] = ""


class FeedbackOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    call_id: str
    stage: str
    actions: str
    evacuated: int | None
    note: str
    created_at: datetime
