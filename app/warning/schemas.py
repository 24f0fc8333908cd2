"""Warning payloads."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.text import MultiLine, SingleLine
from app.times import Moment

Level = Literal["red", "orange", "yellow", "blue"]
Mode = Literal["actual", "exercise", "test"]
Hazard = Annotated[SingleLine, StringConstraints(min_length=1, max_length=50)]
Title = Annotated[SingleLine, StringConstraints(min_length=1, max_length=200)]
Description = Annotated[MultiLine, StringConstraints(max_length=2000)]
Instruction = Annotated[MultiLine, StringConstraints(max_length=500)]
Note = Annotated[MultiLine, StringConstraints(max_length=500)]


class WarningIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hazard: Hazard
    level: Level
    title: Title
    description: Description | None = None
    instruction: Instruction | None = None
    area_codes: Annotated[
        list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=12)]],
        Field(min_length=1, max_length=1000),
    ]
    onset: Moment | None = None
    expires: Moment | None = None
    mode: Mode = "actual"

    @model_validator(mode="after")
    def _expires_after_onset(self) -> "WarningIn":
        if self.onset and self.expires and self.expires <= self.onset:
            raise ValueError("expires must be later than onset")
        return self


class CallCounts(BaseModel):
    total: int
    by_status: dict[str, int]


class CapSource(BaseModel):
    """The CAP message a warning was issued from (an Alert, or an Update it became): what the
    bureau sent, so the warning can be matched to it."""

    sender: str
    identifier: str
    sent: datetime


class WarningOut(BaseModel):
    id: str
    status: str
    mode: str
    hazard: str
    level: str
    title: str
    description: str | None
    instruction: str | None
    area_codes: list[str]
    onset: datetime | None
    expires: datetime | None
    created_at: datetime
    created_by: str
    closed_at: datetime | None
    close_kind: str | None
    close_reason: str | None
    supersedes: str | None
    superseded_by: str | None
    policy: dict[str, Any]
    calls: CallCounts
    escalations: CallCounts
    targeted_regions: int
    reached_regions: int
    uncovered_area_codes: list[str]
    cap_source: CapSource | None = None
    # Answering a CAP message that stated several levels: every warning it made or changed (one
    # per level), this one first.
    warnings: list[str] | None = None


class PreviewRegion(BaseModel):
    code: str
    name: str
    level: str
    parent_code: str | None


class PreviewOut(BaseModel):
    """What issuing this body would do, computed without storing anything."""

    level: str
    mode: str
    area_codes: list[str]
    calls: int  # alert calls: one per person (distinct phone)
    targeted_regions: int
    targeted_by_level: dict[str, int]
    uncovered_area_codes: list[str]
    uncovered_regions: list[PreviewRegion]
    escalates_uncovered: bool  # the policy sends supervisors to uncovered regions at once
    sends: bool  # false for mode test: calls are stored cancelled and nothing is sent
    policy: dict[str, Any]


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Note = ""
    kind: Literal["lifted", "withdrawn"] = "lifted"


class RegionStateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    region_code: str
    name: str
    level: str
    parent_code: str | None
    state: str
    reached_at: datetime | None
    reached_by: str | None
    escalated_at: datetime | None


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Annotated[SingleLine, StringConstraints(min_length=1, max_length=20)] = "other"
    note: Note = ""
