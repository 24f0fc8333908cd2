"""Warning payloads."""

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from app.i18n import SOURCE
from app.text import MultiLine, SingleLine
from app.times import Moment

Level = Literal["red", "orange", "yellow", "blue"]
Mode = Literal["actual", "exercise", "test"]
Hazard = Annotated[SingleLine, StringConstraints(min_length=1, max_length=50)]
Title = Annotated[SingleLine, StringConstraints(min_length=1, max_length=200)]
Description = Annotated[MultiLine, StringConstraints(max_length=2000)]
Instruction = Annotated[MultiLine, StringConstraints(max_length=500)]
Note = Annotated[MultiLine, StringConstraints(max_length=500)]
MAX_TRANSLATIONS = 10


def _primary_subtag(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z]{2,3}", value):
        raise ValueError("a language is the primary subtag of its BCP 47 tag, 2 or 3 letters, such as ug or kk")
    return value.lower()


# A language as the primary subtag of its BCP 47 tag ("ug", "kk"), however it was written ("UG").
Language = Annotated[str, AfterValidator(_primary_subtag)]


class Translation(BaseModel):
    """A warning's own texts in another language; each optional, bounded as the Chinese ones are."""

    model_config = ConfigDict(extra="forbid")

    hazard: Hazard | None = None  # what is coming, in that language (CAP's <event>)
    title: Title | None = None
    description: Description | None = None
    instruction: Instruction | None = None

    @field_validator("description", "instruction")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    def texts(self) -> dict[str, str]:
        """The texts given."""
        return self.model_dump(exclude_none=True)


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
    # The title, description and instruction in other languages (the fields above are Chinese), by
    # primary subtag; any language is taken, a county may add its catalog later. None: none given.
    translations: Annotated[dict[Language, Translation] | None, Field(max_length=MAX_TRANSLATIONS)] = None

    @field_validator("translations", mode="before")
    @classmethod
    def _languages_distinct(cls, value: Any) -> Any:
        if isinstance(value, dict):
            written = [str(key).lower() for key in value]
            if twice := sorted({key for key in written if written.count(key) > 1}):
                raise ValueError(f"language {', '.join(twice)} is given more than once")
        return value

    @field_validator("translations")
    @classmethod
    def _other_languages(cls, value: dict[str, Translation] | None) -> dict[str, Translation] | None:
        if value and SOURCE in value:
            raise ValueError(f"{SOURCE} is the warning's own language: its texts are title, description, instruction")
        # A language with no text, or none at all, is no translation (and compares as absent).
        kept = {language: texts for language, texts in value.items() if texts.texts()} if value else {}
        return kept or None

    @model_validator(mode="after")
    def _expires_after_onset(self) -> "WarningIn":
        if self.onset and self.expires and self.expires <= self.onset:
            raise ValueError("expires must be later than onset")
        return self

    def translation_texts(self) -> dict[str, dict[str, str]] | None:
        """The translations as a warning stores them: {"ug": {"title": ...}}; None when there are none."""
        return {language: texts.texts() for language, texts in self.translations.items()} if self.translations else None


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
    # Its own texts in other languages, by language: {"ug": {"title", "description", "instruction"}}.
    translations: dict[str, dict[str, str]] = Field(default_factory=dict)
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
