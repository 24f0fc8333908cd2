"""Calls (叫应): one per person per warning, each on its own ladder, and the feedback (反馈) on them."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, SmallInteger, String, Text, bindparam, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONDoc, utc_now
from app.ids import new_id

KINDS = ("alert", "escalation", "hazard")
STATUSES = ("pending", "notified", "acknowledged", "unanswered", "cancelled")
OPEN_STATUSES = ("pending", "notified")
ACK_METHODS = ("link", "sms_reply", "voice_key", "manual")
FEEDBACK_STAGES = ("initial", "follow_up", "final")
LEVELS = ("red", "orange", "yellow", "blue")  # most urgent first
PRIORITIES = range(len(LEVELS) * 3)


def priority(level: str, kind: str, *, retry: bool) -> int:
    """The order due attempts go in when they must wait: red before orange before yellow before
    blue; within a level, calls to supervisors and reports (anything but an alert) first, then
    alerts' first attempts, then their retries and notices."""
    band = 0 if kind != "alert" else 2 if retry else 1
    return LEVELS.index(level) * 3 + band


class Call(Base):
    """A person called about a warning: the alert itself, or an escalation about silent regions."""

    __tablename__ = "calls"
    __table_args__ = (
        # Counting by status, and the board's list of silent people in region order (one ordered
        # index scan per status, however many calls the warning has).
        Index("ix_calls_warning_id_status_region", "warning_id", "status", "contact_region_code"),
        Index("ix_calls_contact_phone_status", "contact_phone", "status"),
        # The sender walks due attempts by priority, then in time order (one range scan per
        # priority, see notify.sender). Only calls with an attempt to come are indexed: a call's
        # last attempt and its closing write no entry.
        Index(
            "ix_calls_due",
            "priority",
            "next_attempt_at",
            postgresql_where=text("next_attempt_at IS NOT NULL"),
            sqlite_where=text("next_attempt_at IS NOT NULL"),
        ),
        # The heartbeat looks for open calls past their deadline: only open calls are indexed.
        Index(
            "ix_calls_open_deadline_at",
            "deadline_at",
            postgresql_where=text("status IN ('pending', 'notified')"),
            sqlite_where=text("status IN ('pending', 'notified')"),
        ),
        # The heartbeat's look for calls about hazard reports past their deadline (hazard.chase).
        Index(
            "ix_calls_open_hazard_deadline_at",
            "deadline_at",
            postgresql_where=text("hazard_id IS NOT NULL AND status IN ('pending', 'notified')"),
            sqlite_where=text("hazard_id IS NOT NULL AND status IN ('pending', 'notified')"),
        ),
        # A supervisor has at most one open escalation call per warning (see call.escalation).
        Index(
            "uq_calls_open_escalation",
            "warning_id",
            "contact_id",
            unique=True,
            postgresql_where=text("kind = 'escalation' AND status IN ('pending', 'notified')"),
            sqlite_where=text("kind = 'escalation' AND status IN ('pending', 'notified')"),
        ),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    # No foreign key: calls are written only by the fan-out, in the transaction that writes their
    # warning, and checking the key for each of tens of thousands of rows slows the 201.
    warning_id: Mapped[str | None] = mapped_column(String(26))
    # A call about a hazard report (kind `hazard`) names its report instead of a warning, and, when
    # it calls a department to report in (报到), the department.
    hazard_id: Mapped[str | None] = mapped_column(String(26), index=True)
    # What the call asks about the report: receive (接报), dispatch (报到), escalate (督办), evaluate (评价).
    hazard_step: Mapped[str | None] = mapped_column(String(12))
    department_id: Mapped[str | None] = mapped_column(String(26))
    kind: Mapped[str] = mapped_column(String(12))
    # The person as they were when called: later roster edits do not rewrite history (contact_id
    # names the roster entry, without a key: the snapshot below is what the call stands on).
    contact_id: Mapped[str] = mapped_column(String(26), index=True)
    contact_name: Mapped[str] = mapped_column(String(100))
    contact_phone: Mapped[str] = mapped_column(String(20))
    contact_region_code: Mapped[str] = mapped_column(String(12))
    contact_role: Mapped[str] = mapped_column(String(50))
    contact_rank: Mapped[int]
    channels: Mapped[list[str]] = mapped_column(JSONDoc)
    region_codes: Mapped[list[str]] = mapped_column(JSONDoc)
    about_region_codes: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    escalated_from: Mapped[str | None] = mapped_column(String(26))
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    # Which due attempt goes first when messages must wait (a rate limit, a slow gateway): lower
    # first. See `priority`.
    priority: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    deadline_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    notified_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    ack_method: Mapped[str | None] = mapped_column(String(12))
    ack_note: Mapped[str | None] = mapped_column(Text)
    ack_by: Mapped[str | None] = mapped_column(String(100))
    late: Mapped[bool] = mapped_column(default=False)
    closed_at: Mapped[datetime | None]
    feedback_count: Mapped[int] = mapped_column(default=0)
    final_feedback_at: Mapped[datetime | None]


class CallToken(Base):
    """The SHA-256 of a call's acknowledgement token, which finds the call when its link is opened
    (the token itself is derived again whenever a message is sent, see call.tokens).

    Beside the call rather than in it: written once and never changed, while a call is updated
    several times (claimed, notified, answered), and each of those updates would otherwise write a
    new entry in this unique index of random keys, the dearest of the call's indexes to keep."""

    __tablename__ = "call_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # No foreign key, like the calls' own rows: written only with its call, in the same transaction.
    call_id: Mapped[str] = mapped_column(String(26))


class Feedback(Base):
    """A report back (首报/续报/终报) on a call."""

    __tablename__ = "feedback"

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), index=True)
    warning_id: Mapped[str] = mapped_column(ForeignKey("warnings.id"), index=True)
    stage: Mapped[str] = mapped_column(String(12))
    actions: Mapped[str] = mapped_column(Text, default="")
    evacuated: Mapped[int | None]
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


# Written into the SQL rather than bound: a planner only picks a partial index (the open calls'
# deadlines, the open escalations) when it can see the query's condition implies the index's.
IS_OPEN = Call.status.in_(bindparam("open_statuses", list(OPEN_STATUSES), expanding=True, literal_execute=True))
IS_ESCALATION = Call.kind == bindparam("escalation_kind", "escalation", literal_execute=True)
