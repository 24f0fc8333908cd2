"""Contact payloads."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from app.channels import ChannelName
from app.i18n import known_language
from app.phones import mask, normalize_mobile
from app.text import SingleLine

Channel = ChannelName
Name = Annotated[SingleLine, StringConstraints(min_length=1, max_length=100)]
Role = Annotated[SingleLine, StringConstraints(max_length=50)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=32), AfterValidator(normalize_mobile)]
RegionCode = Annotated[str, StringConstraints(strip_whitespace=True, max_length=12)]
Rank = Annotated[int, Field(ge=1, le=99)]
DepartmentId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=26)]
# A BCP 47 primary subtag with a message catalog (zh, ug, kk, ...), in any case; stored lower case.
Language = Annotated[str, AfterValidator(known_language)]


def _distinct(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


Channels = Annotated[list[Channel], Field(min_length=1, max_length=2), AfterValidator(_distinct)]
Supervises = Annotated[list[RegionCode], Field(max_length=1000), AfterValidator(_distinct)]


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    phone: Phone
    region_code: RegionCode
    role: Role
    rank: Rank
    channels: Channels
    supervises: Supervises = []
    department_id: DepartmentId | None = None
    language: Language | None = Field(
        default=None,
        description="The language the person reads (zh, ug, kk, ...); none: the default of their region, or of "
        "the nearest region above with one.",
    )


class ContactPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    phone: Phone | None = None
    region_code: RegionCode | None = None
    role: Role | None = None
    rank: Rank | None = None
    channels: Channels | None = None
    supervises: Supervises | None = None
    department_id: DepartmentId | None = None
    language: Language | None = Field(
        default=None, description="The language the person reads; null: back to its region's (or above) default."
    )


class ContactOut(BaseModel):
    id: str
    name: str
    phone: str
    region_code: str
    role: str
    rank: int
    channels: list[str]
    supervises: list[str]
    department_id: str | None = None
    language: str = Field(
        description="The language the person reads: their own, else the default of their region or the nearest "
        "region above with one, else zh."
    )
    active: bool
    created_at: datetime
    updated_at: datetime
    deactivated_at: datetime | None

    @classmethod
    def for_reader(cls, contact: Any, *, language: str, masked: bool) -> "ContactOut":
        """The contact as the reader may see it, in the language it reads (see
        contact.language.languages_of): auditors see every phone number masked."""
        fields = {name: getattr(contact, name) for name in cls.model_fields if name != "language"}
        out = cls.model_validate({**fields, "language": language})
        return out.model_copy(update={"phone": mask(out.phone)}) if masked else out


class ContactImportOut(BaseModel):
    created: int
    updated: int
    unchanged: int
    deactivated: int
