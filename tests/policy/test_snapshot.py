"""The rules a warning keeps, as a type: its ladder (when each attempt is due, on which channels),
its deadline, and the defaults of keys added since an older warning was issued."""

from datetime import UTC, datetime, timedelta

from app.policy.snapshot import PolicySnapshot

ISSUED = datetime(2026, 7, 1, 3, 0, tzinfo=UTC)
RED = {"level": "red", "reach": ["township", "village"], "ack_timeout_s": 900, "max_attempts": 3,
       "channels_by_attempt": [["sms", "voice"], ["voice"]], "escalate": True}  # fmt: skip


def test_the_ladder_spreads_the_attempts_over_the_time_to_answer() -> None:
    rules = PolicySnapshot.of(RED)
    assert [rules.attempt_due_at(ISSUED, n) for n in (1, 2, 3, 4)] == [
        ISSUED, ISSUED + timedelta(minutes=5), ISSUED + timedelta(minutes=10), None
    ]  # fmt: skip
    assert rules.deadline(ISSUED) == ISSUED + timedelta(minutes=15)
    assert [rules.channels_for(n) for n in (1, 2, 3)] == [["sms", "voice"], ["voice"], ["voice"]]
    assert rules.attempt_channels(2, ["sms"]) == ["sms"]  # nobody is left without a channel
    # Attempts missed while held back merge into the latest one due.
    assert rules.current_attempt(ISSUED, ISSUED + timedelta(minutes=11), made=1) == 3
    assert rules.within(60).attempt_due_at(ISSUED, 2) == ISSUED + timedelta(seconds=20)


def test_an_older_warning_takes_the_defaults_of_keys_added_since() -> None:
    rules = PolicySnapshot.of(RED)
    assert rules.escalate_above_county is False and rules.broadcast is True and rules.broadcast_repeat == 3
    assert PolicySnapshot.of(RED | {"level": "blue"}).broadcast is False
    assert PolicySnapshot.of(RED | {"broadcast": False}).broadcast is False
