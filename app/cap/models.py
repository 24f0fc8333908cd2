"""CAP alerts received (sender and identifier, and the warning each one made or changed), and the
feed entries already taken."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class CapAlert(Base):
    """A CAP message taken in: the same sender and identifier again answers with the same warning."""

    __tablename__ = "cap_alerts"

    sender: Mapped[str] = mapped_column(String(255), primary_key=True)
    identifier: Mapped[str] = mapped_column(String(255), primary_key=True)
    sent: Mapped[datetime]
    msg_type: Mapped[str] = mapped_column(String(10))
    # Null only inside the transaction that claims the message, before its warning exists.
    warning_id: Mapped[str | None] = mapped_column(ForeignKey("warnings.id"), index=True)
    received_at: Mapped[datetime]
    received_by: Mapped[str] = mapped_column(String(100))
    # The alert as received (re-serialised as text): what was said, for the record.
    document: Mapped[str] = mapped_column(Text)


class CapFeedEntry(Base):
    """A feed entry taken (or refused) once, by whichever process claimed it first."""

    __tablename__ = "cap_feed_entries"

    # SHA-256 of the feed URL and the entry's id: both may be long, the key stays short.
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    feed_url: Mapped[str] = mapped_column(Text)
    entry_id: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(12))
    detail: Mapped[str | None] = mapped_column(Text)
    warning_id: Mapped[str | None] = mapped_column(ForeignKey("warnings.id"), index=True)
    taken_at: Mapped[datetime]
