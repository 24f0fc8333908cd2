"""The 叫应 rules a warning keeps from the policy in force when it was issued (and the ladder a
hazard report's calls run), as a type: who is reached, the attempts and their channels, the
deadline, escalation and broadcast. Later changes to the policy do not move them."""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

BROADCAST_BY_DEFAULT = ("red", "orange")


@dataclass(frozen=True)
class PolicySnapshot:
    reach: tuple[str, ...]
    ack_timeout_s: float
    max_attempts: int
    channels_by_attempt: tuple[tuple[str, ...], ...]
    escalate: bool
    escalate_above_county: bool = False
    broadcast: bool = False
    broadcast_repeat: int = 3

    @classmethod
    def of(cls, stored: dict[str, Any]) -> "PolicySnapshot":
        """The rules as a warning stores them (`policy.service.as_dict`); keys added since an
        older warning was issued take their defaults."""
        return cls(
            reach=tuple(stored["reach"]),
            ack_timeout_s=float(stored["ack_timeout_s"]),
            max_attempts=int(stored["max_attempts"]),
            channels_by_attempt=tuple(tuple(step) for step in stored["channels_by_attempt"]),
            escalate=bool(stored["escalate"]),
            escalate_above_county=bool(stored.get("escalate_above_county", False)),
            broadcast=bool(stored.get("broadcast", stored.get("level") in BROADCAST_BY_DEFAULT)),
            broadcast_repeat=int(stored.get("broadcast_repeat", 3)),
        )

    def within(self, seconds: float) -> "PolicySnapshot":
        """The same ladder spread over another time to answer (a whistle sets its own)."""
        return replace(self, ack_timeout_s=seconds)

    def deadline(self, created_at: datetime) -> datetime:
        return created_at + timedelta(seconds=self.ack_timeout_s)

    def channels_for(self, attempt: int) -> list[str]:
        """Channels of attempt n (1-based); the last entry repeats when the list is shorter."""
        return list(self.channels_by_attempt[min(attempt, len(self.channels_by_attempt)) - 1])

    def attempt_channels(self, attempt: int, available: list[str]) -> list[str]:
        """The attempt's channels this person has; a person with none of them gets their own."""
        return [channel for channel in self.channels_for(attempt) if channel in available] or list(available)

    def attempt_due_at(self, created_at: datetime, attempt: int) -> datetime | None:
        """When attempt n (1-based) of a call is due: created + (n-1) * ack_timeout / max_attempts."""
        if attempt > self.max_attempts:
            return None
        return created_at + timedelta(seconds=(attempt - 1) * self.ack_timeout_s / self.max_attempts)

    def current_attempt(self, created_at: datetime, now: datetime, made: int) -> int:
        """The attempt to make now: the latest one due, so attempts missed while held back merge into it."""
        step = self.ack_timeout_s / self.max_attempts
        due = int((now - created_at).total_seconds() // step) + 1 if step > 0 else made + 1
        return max(made + 1, min(due, self.max_attempts))
