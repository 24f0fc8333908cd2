"""Counters of what the providers carried, by provider, channel and state."""

from prometheus_client import Counter

MESSAGES = Counter(
    "jiaoying_messages_total",
    "Messages handed over and their receipts, by provider, channel and state.",
    ["provider", "channel", "status"],
)
