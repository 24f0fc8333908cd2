"""Warnings (预警), the regions each one targets, and the idempotency keys of their requests."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, SmallInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONDoc, utc_now
from app.ids import new_id

STATUSES = ("expanding", "active", "cancelled", "expired", "superseded")
OPEN_STATUSES = ("expanding", "active")
MODES = ("actual", "exercise", "test")
REGION_STATES = ("reached", "unreached", "uncovered", "unreachable")
# In parentheses: queries add it as a condition beside others (web.service.regions_to_confirm).
TO_CONFIRM = "(state IN ('uncovered', 'unreachable') OR escalated_at IS NOT NULL)"


class Warning(Base):
    __tablename__ = "warnings"
    __table_args__ = (
        Index("ix_warnings_status_created_at", "status", "created_at"),
        # Warnings the scheduler has yet to seal, by when they closed (report.rollup).
        Index(
            "ix_warnings_to_seal",
            "closed_at",
            postgresql_where=text("sealed_at IS NULL"),
            sqlite_where=text("sealed_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    hazard: Mapped[str] = mapped_column(String(50))
    level: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    instruction: Mapped[str | None] = mapped_column(Text)
    area_codes: Mapped[list[str]] = mapped_column(JSONDoc)
    # Paths of the areas, for scope checks without a join (a warning overlaps a caller's subtree).
    area_paths: Mapped[list[str]] = mapped_column(JSONDoc)
    onset: Mapped[datetime | None]
    expires: Mapped[datetime | None] = mapped_column(index=True)
    mode: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(12))
    # The policy in force when the warning was issued: later policy changes do not move its clock.
    policy: Mapped[dict[str, Any]]
    targeted_regions: Mapped[int] = mapped_column(default=0)
    uncovered_area_codes: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    created_by: Mapped[str] = mapped_column(String(100))
    closed_at: Mapped[datetime | None]
    # When its figures were rolled up for the reports, a week after it closed (see report.rollup).
    sealed_at: Mapped[datetime | None]
    close_reason: Mapped[str | None] = mapped_column(Text)
    close_kind: Mapped[str | None] = mapped_column(String(12))
    # The last one-click call (一键呼叫) to everyone still silent: a second press soon after does nothing.
    called_now_at: Mapped[datetime | None]
    # Progress of a fan-out done in steps while the warning is `expanding` (see warning.expansion).
    expansion: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    # The CAP message it was issued from ({"sender", "identifier", "sent"}), as the bureau sent it.
    cap_source: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    # Its own title, description and instruction in other languages: {"ug": {"title": ...}, ...}
    # (CAP info blocks per language, or the API's `translations`); None: Chinese only.
    translations: Mapped[dict[str, dict[str, str]] | None] = mapped_column(JSONDoc, default=None)
    supersedes: Mapped[str | None] = mapped_column(ForeignKey("warnings.id"))
    superseded_by: Mapped[str | None] = mapped_column(ForeignKey("warnings.id"))

    def own_words(self, lang: str | None) -> dict[str, str | None]:
        """Its own hazard, title, description and instruction in a language: as it carries them in
        that language (CAP info per language, the API's translations), else as written (Chinese)."""
        words: dict[str, str | None] = {
            "hazard": self.hazard, "title": self.title, "description": self.description,
            "instruction": self.instruction,
        }  # fmt: skip
        translated = (self.translations or {}).get(lang or "") or {}
        return words | {key: value for key, value in translated.items() if key in words and value}


class WarningRegion(Base):
    """A region a warning targets, and whether anyone there has answered."""

    __tablename__ = "warning_regions"
    __table_args__ = (
        Index("ix_warning_regions_warning_id_state", "warning_id", "state"),
        # The few regions the board asks a person to check (web.service.regions_to_confirm), in order.
        Index(
            "ix_warning_regions_to_confirm",
            "warning_id",
            "region_code",
            postgresql_where=text(TO_CONFIRM),
            sqlite_where=text(TO_CONFIRM),
        ),
    )

    warning_id: Mapped[str] = mapped_column(ForeignKey("warnings.id"), primary_key=True)
    region_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(12))
    parent_code: Mapped[str | None] = mapped_column(String(12))
    state: Mapped[str] = mapped_column(String(12))
    reached_at: Mapped[datetime | None]
    reached_by: Mapped[str | None] = mapped_column(String(20))
    # When the region was first escalated to a supervisor (see call.escalation); it stays unreached.
    escalated_at: Mapped[datetime | None]


class CallTally(Base):
    """How many of a warning's calls are in each kind and status, and their attempts so far.

    Kept by the database itself on PostgreSQL (triggers on calls, migrations 0009 and 0012), so a
    warning of two million calls is counted by reading a few rows; SQLite, for warnings of village
    and county size, counts the calls (see call.tally). Each group is spread over slots, one per
    writing connection (its process id modulo 64), so that concurrent writers of one warning do not
    wait for each other's commits: a group's count is the sum of its slots."""

    __tablename__ = "call_tallies"

    warning_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12), primary_key=True)
    status: Mapped[str] = mapped_column(String(12), primary_key=True)
    slot: Mapped[int] = mapped_column(SmallInteger, primary_key=True, server_default="0")
    calls: Mapped[int] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(BigInteger)


class RegionTally(Base):
    """How many of a warning's targeted regions are in each state, by county (the code's first six
    digits) and whether escalated; kept like CallTally (triggers on warning_regions)."""

    __tablename__ = "region_tallies"

    warning_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    county: Mapped[str] = mapped_column(String(6), primary_key=True)
    state: Mapped[str] = mapped_column(String(12), primary_key=True)
    escalated: Mapped[bool] = mapped_column(primary_key=True)
    slot: Mapped[int] = mapped_column(SmallInteger, primary_key=True, server_default="0")
    regions: Mapped[int] = mapped_column(BigInteger)


class IdempotencyKey(Base):
    """A caller's Idempotency-Key and the warning its first request created (kept 24 h or more)."""

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    body_hash: Mapped[str] = mapped_column(String(64))
    warning_id: Mapped[str] = mapped_column(ForeignKey("warnings.id"))
    created_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
