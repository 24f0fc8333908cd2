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
        default=None,
        description="The default language of its contacts, and of the regions below that have none; null: none "
        "here (they follow the nearest region above with one, else zh).",
    )


class RegionDetail(RegionOut):
    path: list[RegionRef]


class RegionImportOut(BaseModel):
    created: int
    updated: int
