"""Region payloads."""

from pydantic import BaseModel, ConfigDict


class RegionRef(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    level: str


class RegionOut(RegionRef):
    parent_code: str | None
    abolished: bool


class RegionDetail(RegionOut):
    path: list[RegionRef]


class RegionImportOut(BaseModel):
    created: int
    updated: int
