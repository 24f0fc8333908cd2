"""Prometheus metrics of the calling chain, counted by each process (Prometheus sums replicas)."""

from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.call import tally
from app.channels import NAMES
from app.models.notify import IS_PENDING, Message

CALLS_CREATED = Counter("jiaoying_calls_created_total", "Calls made, by kind.", ["kind"])
CALLS_ACKNOWLEDGED = Counter("jiaoying_calls_acknowledged_total", "Calls acknowledged, by method.", ["method"])
CALLS_UNANSWERED = Counter("jiaoying_calls_unanswered_total", "Calls whose deadline passed without an answer.")
TIME_TO_ACK = Histogram(
    "jiaoying_time_to_acknowledge_seconds",
    "From a call being made to its acknowledgement.",
    buckets=(10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600),
)
REGIONS_ESCALATED = Counter("jiaoying_regions_escalated_total", "Regions handed up to a supervisor.")
REGIONS_UNREACHABLE = Counter("jiaoying_regions_unreachable_total", "Regions the chain could take no further.")
# Read from the database by the heartbeat (app.scheduler), so every replica reports the same totals.
OPEN_CALLS = Gauge("jiaoying_open_calls", "Calls waiting for an answer, by status.", ["status"])
PENDING_MESSAGES = Gauge("jiaoying_pending_messages", "Messages waiting for the gateway, by channel.", ["channel"])


def acknowledged(method: str, made_at: datetime, now: datetime) -> None:
    CALLS_ACKNOWLEDGED.labels(method).inc()
    TIME_TO_ACK.observe(max((now - made_at).total_seconds(), 0.0))


async def refresh_backlog(session: AsyncSession) -> None:
    """Set the open-call and pending-message gauges from the database (tallies and a status index)."""
    for status, count in (await tally.open_calls(session)).items():
        OPEN_CALLS.labels(status).set(count)
    pending = dict.fromkeys(NAMES, 0)
    waiting = select(Message.channel, func.count()).where(IS_PENDING).group_by(Message.channel)
    pending.update((await session.execute(waiting)).tuples().all())
    for channel, count in pending.items():
        PENDING_MESSAGES.labels(channel).set(count)
