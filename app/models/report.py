"""What the reports keep: each sealed warning's figures by township, so a year is read in rollups."""

from sqlalchemy import JSON, Float, ForeignKey, String
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

# Seconds from call to answer: an array of double precision on PostgreSQL, a JSON list on SQLite.
Seconds = JSON().with_variant(postgresql.ARRAY(Float), "postgresql")


class ReportRollup(Base):
    """A sealed warning's alert calls and targeted regions in one township, counted once for good.

    A warning's record is sealed a week after it ends, when its links, feedback and confirmations
    close (see report.rollup): from then on nothing can change its figures, so the response report
    reads these rows instead of the calls. Rows are keyed by the first nine digits of the codes:
    the township (a county's own people and regions fall under its digits and 000)."""

    __tablename__ = "report_rollups"

    warning_id: Mapped[str] = mapped_column(ForeignKey("warnings.id"), primary_key=True)
    township_digits: Mapped[str] = mapped_column(
        String(9).with_variant(String(9, collation="C"), "postgresql"), primary_key=True
    )
    calls: Mapped[int]
    acknowledged: Mapped[int]
    in_time: Mapped[int]
    with_feedback: Mapped[int]
    # Answer times of the acknowledged calls, for the percentiles (None or empty when nobody answered).
    ack_seconds: Mapped[list[float] | None] = mapped_column(Seconds)
    targeted_regions: Mapped[int]
    reached_regions: Mapped[int]
    escalated_regions: Mapped[int]
