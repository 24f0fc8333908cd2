"""Village loudspeakers (大喇叭) and the broadcasts a warning makes them play.

A broadcast is one region's: every active loudspeaker of a targeted village or township plays it,
in each language its loudspeakers speak. It is stored `pending` with the warning (the outbox, as
for messages), handed to the broadcast platform by the heartbeat (`sending`, then `sent`), and the
platform's receipt makes it `delivered` (played) or `failed`; the village's responsible person may
confirm on the ack page that it played (`confirmed_at`). A broadcast never acknowledges a call."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONDoc, utc_now
from app.ids import new_id

KINDS = ("alert", "lifting", "withdrawal")
STATUSES = ("pending", "sending", "sent", "delivered", "failed", "cancelled")
WAITING = text("status = 'pending' OR status = 'sending'")


class Loudspeaker(Base):
    __tablename__ = "loudspeakers"
    __table_args__ = (Index("ix_loudspeakers_region_code_active", "region_code", "active"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    name: Mapped[str] = mapped_column(String(100))
    languages: Mapped[list[str]] = mapped_column(JSONDoc)  # BCP 47 primary subtags, zh first
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    deactivated_at: Mapped[datetime | None]


class Broadcast(Base):
    __tablename__ = "broadcasts"
    __table_args__ = (
        UniqueConstraint("warning_id", "region_code", "kind"),
        # Only broadcasts waiting to go are indexed, as for messages.
        Index("ix_broadcasts_waiting", "status", "due_at", postgresql_where=WAITING, sqlite_where=WAITING),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    warning_id: Mapped[str] = mapped_column(String(26), index=True)
    region_code: Mapped[str] = mapped_column(String(12))
    kind: Mapped[str] = mapped_column(String(12))
    level: Mapped[str] = mapped_column(String(10))
    texts: Mapped[dict[str, str]] = mapped_column(JSONDoc)  # language -> what is said
    repeat: Mapped[int]
    status: Mapped[str] = mapped_column(String(12), default="pending")
    tries: Mapped[int] = mapped_column(default=0)
    due_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    receipt_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    confirmed_at: Mapped[datetime | None]
    confirmed_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
