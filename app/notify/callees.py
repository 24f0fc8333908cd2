"""Per-callee limits (a cloud allows one callee about a call a minute, five an hour): the messages
made to each number on a limited channel, and when one more may go."""

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import among, chunks
from app.models.call import Call
from app.models.notify import Message
from app.notify.base import CalleeLimit

# Messages that count against a per-callee limit: made, and not given up on; and those handed over
# that failed (a cloud counts a call not picked up as a call).
_COUNTED = ("pending", "sending", "sent", "delivered", "failed")


class CalleeBook:
    """Messages made to each number on channels with a per-callee limit (sent, or waiting to go at
    their due time), read once per claim and kept up to date as the claim makes more."""

    def __init__(self, limits: dict[str, tuple[CalleeLimit, ...]], times: dict[tuple[str, str], list[datetime]]):
        self.limits = limits
        self.times = times

    @classmethod
    async def load(
        cls, session: AsyncSession, phones: set[str], limits: dict[str, tuple[CalleeLimit, ...]], *, now: datetime
    ) -> "CalleeBook":
        """The messages of the last window to these numbers, found through their calls."""
        times: dict[tuple[str, str], list[datetime]] = defaultdict(list)
        if not limits or not phones:
            return cls(limits, times)
        window = timedelta(seconds=max(limit.seconds for rules in limits.values() for limit in rules))
        for chunk in chunks(sorted(phones)):
            rows = await session.execute(
                select(Message.to, Message.channel, Message.sent_at, Message.due_at)
                .join(Call, Call.id == Message.call_id)
                .where(among(Call.contact_phone, chunk), Call.created_at >= now - window - timedelta(days=1))
                .where(Message.channel.in_(list(limits)), Message.status.in_(_COUNTED))
                .where(or_(Message.status != "failed", Message.sent_at.is_not(None)))
                .where(or_(Message.sent_at >= now - window,
                           and_(Message.sent_at.is_(None), Message.due_at >= now - window)))
            )  # fmt: skip
            for to, channel, sent_at, due_at in rows.tuples():
                times[(to, channel)].append(sent_at or due_at)
        return cls(limits, times)

    def free_at(self, phone: str, channel: str, now: datetime) -> datetime:
        """When one more message on the channel may go to the number (now, if it may already)."""
        limits = self.limits.get(channel)
        if not limits:
            return now
        return free_at(sorted(self.times.get((phone, channel), [])), limits, now)

    def add(self, phone: str, channel: str, at: datetime) -> None:
        if channel in self.limits:
            self.times.setdefault((phone, channel), []).append(at)


def free_at(made: list[datetime], limits: tuple[CalleeLimit, ...], now: datetime) -> datetime:
    """The earliest time from `now` at which one more message keeps within every limit, given the
    times of the messages already made (in order; some may lie ahead, waiting)."""
    at = now
    for _ in range(len(made) + 1):
        moved = at
        for limit in limits:
            span = timedelta(seconds=limit.seconds)
            within = [t for t in made if t > at - span]
            if len(within) >= limit.calls:
                moved = max(moved, within[-limit.calls] + span)
        if moved == at:
            return at
        at = moved
    return at
