"""Administrative regions (行政区划): the tree every warning expands down."""

from datetime import datetime

from sqlalchemy import CheckConstraint, ColumnElement, Select, String, and_, select
from sqlalchemy.orm import InstrumentedAttribute, Mapped, mapped_column

from app.db import Base, BinaryString, utc_now

PATH_SEPARATOR = "/"
LEVELS = ("province", "prefecture", "county", "township", "village")
LEVEL_RANK = {level: rank for rank, level in enumerate(LEVELS, start=1)}


class Region(Base):
    __tablename__ = "regions"
    __table_args__ = (CheckConstraint(f"level IN {LEVELS}", name="level"),)

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(12))
    # No foreign key to regions.code: the importer, the only writer, checks the whole merged tree
    # (parents, levels, cycles) before writing, which a key cannot; checking 665,271 parents again
    # would add a third to a national import.
    parent_code: Mapped[str | None] = mapped_column(String(12), index=True)
    # Codes from the root down to this region, each followed by "/": a subtree is a path prefix,
    # found by an index range scan (see subtree_filter) instead of a recursive walk.
    path: Mapped[str] = mapped_column(BinaryString, index=True)
    abolished: Mapped[bool] = mapped_column(default=False)
    # The language of its contacts who have none of their own (app.i18n); None: Chinese.
    language: Mapped[str | None] = mapped_column(String(12), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)


def subtree_filter(path_column: InstrumentedAttribute[str], path: str) -> ColumnElement[bool]:
    """Rows whose path starts with `path`, as an index range: '/' sorts just below '0'."""
    return and_(path_column >= path, path_column < path[:-1] + chr(ord(PATH_SEPARATOR) + 1))


def codes_within(path: str) -> Select[tuple[str]]:
    """The codes of the regions in the subtree at `path`, as a subquery."""
    return select(Region.code).where(subtree_filter(Region.path, path))
