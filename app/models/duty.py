"""The duty desk (值班值守): shifts of a county's or township's office, and the handovers between them."""

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONDoc, utc_now
from app.ids import new_id


class DutyShift(Base):
    """One shift of an office, or of a county's department: its duty officer (值班员) and, optionally,
    the leader in charge (带班领导).

    Shifts of one roster never overlap (duty.roster checks it under the office's or department's
    lock). A shift that has ended is history and is never changed; the rest are replaced whole by
    the roster."""

    __tablename__ = "duty_shifts"
    __table_args__ = (
        # The shift in force and the ones to come: a range of one roster's shifts by their end.
        Index("ix_duty_shifts_region_code_ends_at", "region_code", "ends_at"),
        Index("ix_duty_shifts_department_id_ends_at", "department_id", "ends_at"),
        CheckConstraint("(region_code IS NULL) <> (department_id IS NULL)", name="one_desk"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    # An office's shift names its region; a department's, the department (and no region).
    region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    department_id: Mapped[str | None] = mapped_column(ForeignKey("departments.id"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    officer_id: Mapped[str] = mapped_column(ForeignKey("contacts.id"), index=True)
    leader_id: Mapped[str | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    created_by: Mapped[str] = mapped_column(String(100), default="")


class DutyHandover(Base):
    """A handover (交接班): the outgoing officer's note and the calls still open in their hands.

    The shifts are named by id without a key: a shift in force may be replaced by a later roster,
    and the handover keeps the names as they were."""

    __tablename__ = "duty_handovers"
    __table_args__ = (Index("ix_duty_handovers_region_code_at", "region_code", "at"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    at: Mapped[datetime]
    from_shift_id: Mapped[str | None] = mapped_column(String(26))
    from_officer: Mapped[dict[str, str] | None] = mapped_column(JSONDoc)
    to_shift_id: Mapped[str | None] = mapped_column(String(26))
    to_officer: Mapped[dict[str, str] | None] = mapped_column(JSONDoc)
    note: Mapped[str] = mapped_column(Text, default="")
    open_calls: Mapped[list[dict[str, object]]] = mapped_column(JSONDoc, default=list)
    actor: Mapped[str] = mapped_column(String(100))
