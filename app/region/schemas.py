"""Region payloads."""

from pydantic import BaseModel, ConfigDict, Field


class RegionRef(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    level: str


class RegionOut(RegionRef):
    parent_code: str | None
    abolished: bool
    language: str | None = Field(
        default=None, description="The language of its contacts who have none of their own; null: Chinese (zh)."
    )


class RegionDetail(RegionOut):
    path: list[RegionRef]


class RegionImportOut(BaseModel):
    created: int
    updated: int
