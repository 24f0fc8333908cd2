"""Loudspeaker and broadcast payloads."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from app.i18n import known_language
from app.text import SingleLine

# Languages a loudspeaker may speak: those with a message catalog (zh the source; ug and kk in the
# Arabic script used in Xinjiang; more where a county adds a catalog).
Language = Annotated[str, StringConstraints(max_length=12), AfterValidator(known_language)]


class LoudspeakerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=12)]
    name: Annotated[SingleLine, StringConstraints(min_length=1, max_length=100)]
    languages: Annotated[list[Language], Field(max_length=20)] = ["zh"]

    @field_validator("languages")
    @classmethod
    def _chinese_first(cls, languages: list[str]) -> list[str]:
        """Each once, Chinese first (every loudspeaker says it in Chinese too)."""
        return ["zh", *(language for language in dict.fromkeys(languages) if language != "zh")]


class LoudspeakerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    region_code: str
    name: str
    languages: list[str]
    active: bool
    created_at: datetime
    deactivated_at: datetime | None


class BroadcastOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    warning_id: str
    region_code: str
    kind: str
    level: str
    texts: dict[str, str]
    repeat: int
    status: str
    sent_at: datetime | None
    receipt_at: datetime | None
    error: str | None
    confirmed_at: datetime | None
    confirmed_by: str | None


class ReceiptIn(BaseModel):
    """The broadcast platform's word on a broadcast: played (delivered) or not (failed)."""

    model_config = ConfigDict(extra="forbid")

    broadcast_id: Annotated[str, StringConstraints(min_length=1, max_length=26)]
    status: Literal["delivered", "failed"]
    error: Annotated[SingleLine, StringConstraints(max_length=500)] | None = None
