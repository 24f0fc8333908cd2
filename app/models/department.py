"""Departments (部门) of a county: water, natural resources, fire, ... whom a township's 吹哨 calls."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utc_now
from app.ids import new_id


class Department(Base):
    __tablename__ = "departments"
    __table_args__ = (UniqueConstraint("region_code", "name"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    # The county (or the office above the townships) the department serves.
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
