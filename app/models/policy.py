"""叫应 rules per warning level: whom to call, how often, on which channels, and when to escalate."""

from datetime import datetime

from sqlalchemy import String, false
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONDoc, utc_now

LEVELS = ("red", "orange", "yellow", "blue")
# The defaults (DOMAIN.md) are written by migration 0002; PUT /api/v1/policies/{level} changes them.


class Policy(Base):
    __tablename__ = "policies"

    level: Mapped[str] = mapped_column(String(10), primary_key=True)
    reach: Mapped[list[str]] = mapped_column(JSONDoc)
    ack_timeout_s: Mapped[float]
    max_attempts: Mapped[int]
    channels_by_attempt: Mapped[list[list[str]]] = mapped_column(JSONDoc)
    escalate: Mapped[bool]
    escalate_above_county: Mapped[bool] = mapped_column(default=False)
    # Targeted regions with a loudspeaker broadcast the warning (red and orange by default), so often.
    broadcast: Mapped[bool] = mapped_column(default=False, server_default=false())
    broadcast_repeat: Mapped[int] = mapped_column(default=3, server_default="3")
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_by: Mapped[str] = mapped_column(String(100), default="defaults")
