"""Hazard reports (信息报告): the chain upward, from a village's report to the reporter's judgement.

A report's life, as a table of steps (the README draws it too):

    step        from                                              to
    receive     reported, reopened                                received     (the office's call answered: 接报)
    whistle     reported, received, handling, reopened            dispatched   (吹哨: departments called)
    handling    reported, received, dispatched, handling, reopened handling
    resolve     reported, received, dispatched, handling, reopened resolved    (with a note)
    evaluate    resolved                                          evaluated    (satisfied) or reopened (unsatisfied)

A department's answer to its call (报到) is recorded on the report without changing its status.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONDoc, utc_now
from app.ids import new_id

STATUSES = ("reported", "received", "dispatched", "handling", "resolved", "evaluated", "reopened")
OPEN = ("reported", "received", "dispatched", "handling", "reopened")
SOURCES = ("phone", "radio", "in_person", "sms", "link", "other")
RATINGS = ("satisfied", "unsatisfied")
# The steps a report may take, and from which statuses: the one table the service checks.
STEPS: dict[str, tuple[str, ...]] = {
    "receive": ("reported", "reopened"),
    "whistle": ("reported", "received", "handling", "reopened"),
    "handling": OPEN,
    "resolve": OPEN,
    "evaluate": ("resolved",),
}


class Hazard(Base):
    __tablename__ = "hazards"
    __table_args__ = (
        Index("ix_hazards_region_code_created_at", "region_code", "created_at"),
        Index("ix_hazards_office_code_status", "office_code", "status"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    # The office the report went to (接报): the nearest township or county above the region.
    office_code: Mapped[str | None] = mapped_column(String(12))
    # Where, as messages say it (乌拉泊街道工人新村社区), kept as it was named when reported.
    place: Mapped[str] = mapped_column(String(200), default="")
    category: Mapped[str] = mapped_column(String(50))
    description: Mapped[str] = mapped_column(Text)
    people_at_risk: Mapped[int | None]
    urgent: Mapped[bool] = mapped_column(default=False)
    source: Mapped[str] = mapped_column(String(12))
    reporter_name: Mapped[str | None] = mapped_column(String(100))
    reporter_phone: Mapped[str | None] = mapped_column(String(20))
    reporter_contact_id: Mapped[str | None] = mapped_column(String(26), index=True)
    status: Mapped[str] = mapped_column(String(12), default="reported")
    # The ladder its calls run: the red policy's with 15 minutes for an urgent report, else the
    # orange one's with 60 (the deadline of department calls is the whistle's own).
    policy: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    created_by: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime | None]
    dispatched_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    evaluated_at: Mapped[datetime | None]
    resolution: Mapped[str | None] = mapped_column(Text)
    rating: Mapped[str | None] = mapped_column(String(12))
    rating_note: Mapped[str | None] = mapped_column(Text)

    @property
    def level(self) -> str:
        """The level its messages carry: red for an urgent report, orange for the others."""
        return "red" if self.urgent else "orange"


class HazardDispatch(Base):
    """One department called by a whistle (吹哨), and when it reported in (报到)."""

    __tablename__ = "hazard_dispatches"

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    hazard_id: Mapped[str] = mapped_column(ForeignKey("hazards.id"), index=True)
    department_id: Mapped[str] = mapped_column(ForeignKey("departments.id"))
    department_name: Mapped[str] = mapped_column(String(100))
    instruction: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    deadline_at: Mapped[datetime]
    reported_in_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
