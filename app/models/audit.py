"""The audit record: every change is an event, hash-chained within its chain."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
Seq = BigInteger().with_variant(Integer(), "sqlite")
REPLIES = "type = 'reply.received'"


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        # A warning's events are exactly those of its chain (audit.service.record_events checks it),
        # so (chain, seq) serves its timeline too: no separate warning_id index to write 47,000
        # times in a fan-out.
        Index("ix_audit_events_chain_seq", "chain", "seq"),
        Index("ix_audit_events_region_code_seq", "region_code", "seq"),
        # Events are appended in time order, so on PostgreSQL a block-range index finds a period
        # for a fraction of a B-tree's upkeep on every event written.
        Index("ix_audit_events_at", "at", postgresql_using="brin"),
        # The replies that answered nothing, shown on a warning's board: a few among a chain of a
        # million events, found without reading the chain.
        Index("ix_audit_events_replies", "chain", "seq", postgresql_where=text(REPLIES), sqlite_where=text(REPLIES)),
    )

    seq: Mapped[int] = mapped_column(Seq, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    type: Mapped[str] = mapped_column(String(40))
    chain: Mapped[str] = mapped_column(String(60))
    warning_id: Mapped[str | None] = mapped_column(String(26))
    call_id: Mapped[str | None] = mapped_column(String(26))
    hazard_id: Mapped[str | None] = mapped_column(String(26))
    region_code: Mapped[str | None] = mapped_column(String(12))
    actor: Mapped[str] = mapped_column(String(100))
    # Plain JSON, not JSONB: events are written in bulk and read whole, never searched inside.
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    hash: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    # The request that wrote the event (its X-Request-ID), null for the scheduler's own work.
    request_id: Mapped[str | None] = mapped_column(String(64))


class ChainHead(Base):
    """The last hash of each chain; writers lock its row, so a chain never forks."""

    __tablename__ = "audit_chain_heads"

    chain: Mapped[str] = mapped_column(String(60), primary_key=True)
    hash: Mapped[str] = mapped_column(String(64))
    length: Mapped[int] = mapped_column(BigInteger)
    # When the head last moved: the heads that moved lately are published outside (audit.anchors).
    updated_at: Mapped[datetime | None] = mapped_column(index=True)
