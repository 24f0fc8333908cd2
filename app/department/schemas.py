"""Department payloads."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from app.text import SingleLine


class DepartmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[SingleLine, StringConstraints(min_length=1, max_length=100)]
    region_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=12)]


class DepartmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    region_code: str
    created_at: datetime
