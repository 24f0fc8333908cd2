"""Identifiers and secrets: ids that sort by creation time, and bearer tokens."""

import os
import secrets
import time
from functools import lru_cache

# Crockford's base32 alphabet is in ASCII order, so identifiers sort by creation time.
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
# Random digits come from random bytes, 5 bits each, through one C-level translate.
_RANDOM_DIGITS = bytes(_CROCKFORD[byte & 31].encode()[0] for byte in range(256))


@lru_cache(maxsize=4)
def _time_digits(ms: int) -> str:
    return "".join(_CROCKFORD[(ms >> shift) & 31] for shift in range(45, -5, -5))


def new_id() -> str:
    """A 26-character identifier: 10 digits of milliseconds (so ids sort by creation), 16 random (80 bits)."""
    return _time_digits(time.time_ns() // 1_000_000) + os.urandom(16).translate(_RANDOM_DIGITS).decode()


def new_ids(count: int) -> list[str]:
    """`count` identifiers as new_id makes them, from one read of random bytes (a round of messages)."""
    stamp = _time_digits(time.time_ns() // 1_000_000)
    digits = os.urandom(16 * count).translate(_RANDOM_DIGITS).decode()
    return [stamp + digits[start : start + 16] for start in range(0, 16 * count, 16)]


def new_token(prefix: str) -> str:
    """A bearer secret with 256 random bits."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"
