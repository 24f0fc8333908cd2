"""CAP alerts received (sender and identifier, and the warning each one made or changed), the
earlier messages each names, and the feed entries already taken."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class CapAlert(Base):
    """A CAP message taken in: the same sender and identifier again answers with the same warning."""

    __tablename__ = "cap_alerts"

    sender: Mapped[str] = mapped_column(String(255), primary_key=True)
    identifier: Mapped[str] = mapped_column(String(255), primary_key=True)
    sent: Mapped[datetime]
    msg_type: Mapped[str] = mapped_column(String(10))
    # The warning it made or changed (or, recorded only, the one in force when it came); null for
    # a message recorded with no warning to go with it, and inside the claiming transaction.
    warning_id: Mapped[str | None] = mapped_column(ForeignKey("warnings.id"), index=True)
    # created, updated or cancelled; recorded when it changed nothing (an original arriving after
    # its update, a message older than what was applied, a Cancel of an alert never received).
    outcome: Mapped[str | None] = mapped_column(String(12))
    received_at: Mapped[datetime]
    received_by: Mapped[str] = mapped_column(String(100))
    # The region path of the key that posted it (null: anywhere): a message naming another can
    # overtake it only if its poster could have posted that one too.
    received_within: Mapped[str | None] = mapped_column(String(200))
    # The alert as received (re-serialised as text): what was said, for the record.
    document: Mapped[str] = mapped_column(Text)


class CapAlertWarning(Base):
    """Every warning a CAP message made or changed: one per level when its blocks state several
    (CapAlert.warning_id is the first of them)."""

    __tablename__ = "cap_alert_warnings"

    sender: Mapped[str] = mapped_column(String(255), primary_key=True)
    identifier: Mapped[str] = mapped_column(String(255), primary_key=True)
    warning_id: Mapped[str] = mapped_column(ForeignKey("warnings.id"), primary_key=True, index=True)


class CapReference(Base):
    """An earlier message a CAP message names in `references`: so an original that arrives after
    its Update or Cancel is known as overtaken."""

    __tablename__ = "cap_references"
    __table_args__ = (Index("ix_cap_references_ref", "ref_sender", "ref_identifier"),)

    sender: Mapped[str] = mapped_column(String(255), primary_key=True)
    identifier: Mapped[str] = mapped_column(String(255), primary_key=True)
    ref_sender: Mapped[str] = mapped_column(String(255), primary_key=True)
    ref_identifier: Mapped[str] = mapped_column(String(255), primary_key=True)
    ref_sent: Mapped[str] = mapped_column(String(40))


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
