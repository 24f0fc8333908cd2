"""API key payloads."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from app.text import SingleLine

Role = Literal["admin", "duty_officer", "auditor"]


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[SingleLine, StringConstraints(min_length=1, max_length=100)]
    role: Role
    region_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=12)] | None = None


class KeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    role: str
    region_code: str | None
    created_at: datetime
    created_by: str
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    token: str
