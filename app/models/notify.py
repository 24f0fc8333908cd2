"""The outbox: every message to a person, from pending to handed over, and the console's copy."""

from datetime import datetime

from sqlalchemy import Index, SmallInteger, String, Text, bindparam, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utc_now
from app.ids import new_id

MESSAGE_KINDS = ("alert", "escalation", "lifting", "withdrawal", "report_link")
MESSAGE_STATUSES = ("pending", "sending", "sent", "delivered", "failed", "cancelled")
# Messages waiting to go. Written with OR: SQLite's planner sees that `status = 'pending'` falls
# under it, which it cannot for IN.
WAITING = text("status = 'pending' OR status = 'sending'")


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        # Only messages waiting to go (pending, or claimed and not yet recorded) are indexed: the
        # sender's lookups stay small however long the history, and `sent` writes no entry.
        Index(
            "ix_messages_waiting",
            "status",
            "priority",
            "due_at",
            postgresql_where=WAITING,
            sqlite_where=WAITING,
        ),
        Index("ix_messages_call_id", "call_id"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    # No foreign keys: the sender is the only writer, always for a call it has just locked, and
    # checking two keys per row halves the rate at which a large fan-out's messages go out.
    # Null for a message outside any call (a contact's report link), which names its contact.
    call_id: Mapped[str | None] = mapped_column(String(26))
    warning_id: Mapped[str | None] = mapped_column(String(26), index=True)
    hazard_id: Mapped[str | None] = mapped_column(String(26))
    contact_id: Mapped[str | None] = mapped_column(String(26))
    kind: Mapped[str] = mapped_column(String(12))
    channel: Mapped[str] = mapped_column(String(8))
    to: Mapped[str] = mapped_column(String(20))
    attempt: Mapped[int] = mapped_column(default=1)
    # Rendered text; "{ack_url}" stands for the link, filled in only when the message is handed over.
    text: Mapped[str] = mapped_column(Text)
    with_link: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(12))
    # The call's priority when the message was made (see call.models.priority): lower goes first.
    priority: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    # The provider that took it (after a failover, not the channel's first), set when handed over.
    provider: Mapped[str | None] = mapped_column(String(40))
    due_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    # Hand-overs the provider refused; each waits longer before the next (notify.sender._requeue).
    tries: Mapped[int] = mapped_column(default=0, server_default="0")
    # The gateway's receipt: delivered or failed, and when.
    receipt_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)


# Written into the SQL rather than bound: a planner only picks the partial index of waiting
# messages when it can see that the status asked for is one of them.
IS_PENDING = Message.status == bindparam("pending_status", "pending", literal_execute=True)
IS_SENDING = Message.status == bindparam("sending_status", "sending", literal_execute=True)


class GatewayRef(Base):
    """A gateway's own id for a message we handed it, where its receipts name that id and not ours
    (Aliyun: one BizId for a batch, so the number tells the messages apart)."""

    __tablename__ = "gateway_refs"

    provider: Mapped[str] = mapped_column(String(20), primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    to: Mapped[str] = mapped_column(String(20), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(26))


class ConsoleMessage(Base):
    """What the console provider was handed, for GET /api/v1/dev/outbox."""

    __tablename__ = "console_outbox"

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(26), unique=True)
    call_id: Mapped[str | None] = mapped_column(String(26))
    warning_id: Mapped[str | None] = mapped_column(String(26), index=True)
    hazard_id: Mapped[str | None] = mapped_column(String(26))
    kind: Mapped[str] = mapped_column(String(12))
    channel: Mapped[str] = mapped_column(String(8))
    to: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    ack_url: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(default=utc_now)


class Inbound(Base):
    """A reply from a phone (an SMS, a key pressed on a voice call), kept once per gateway id."""

    __tablename__ = "inbound_messages"

    inbound_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    channel: Mapped[str] = mapped_column(String(8))
    text: Mapped[str | None] = mapped_column(Text)
    digits: Mapped[str | None] = mapped_column(String(20))
    result: Mapped[str] = mapped_column(String(20))  # acknowledged | reply
    received_at: Mapped[datetime] = mapped_column(default=utc_now)


class GatewayState(Base):
    """How a provider's gateway was last seen by a sender, so that every process (an API-only one
    too) can tell when a channel is down: written when a provider starts backing off, on each
    failed probe, and when it takes messages again (app.notify.health)."""

    __tablename__ = "gateway_states"

    provider: Mapped[str] = mapped_column(String(40), primary_key=True)
    up: Mapped[bool]
    error: Mapped[str | None] = mapped_column(Text)
    since: Mapped[datetime]  # when it went down or came back
    checked_at: Mapped[datetime]  # the last round that saw it so
