"""Limits on what a hostile client can make the service do: failed sign-ins and bad API keys per
address, feedback posts per link. Counted in the database, so every process shares the count.

A fixed window per key: the first hit of a minute starts it, each hit counts, and past the limit
the caller is told how long to wait (429 with Retry-After). Only failures and writes are counted;
a valid acknowledgement is never limited, for a whole township behind one carrier address answers
together on a red night.
"""

import random
import time
from datetime import datetime, timedelta

from sqlalchemy import String, case, delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from starlette.requests import Request

from app.db import Base, dialect_insert, session_scope, utc_now
from app.errors import AppError

PRUNE_SHARE = 0.01  # of hits, also clear windows long over


class RateBucket(Base):
    """Hits of one key (an address, a link) in its current window."""

    __tablename__ = "rate_buckets"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    window_start: Mapped[datetime]
    hits: Mapped[int]


class TooManyRequests(AppError):
    status = 429

    def __init__(self, detail: str, retry_after: float) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, round(retry_after)))})


async def spend(
    session: AsyncSession, key: str, *, limit: int, window_s: float = 60.0, now: datetime | None = None
) -> float | None:
    """Count one hit of `key` in the caller's transaction (which must commit for the hit to count:
    a failure path commits before it raises); the seconds to wait if that is over `limit` in the
    window, else None."""
    now = now or utc_now()
    window = timedelta(seconds=window_s)
    insert = dialect_insert(session)(RateBucket).values(key=key, window_start=now, hits=1)
    fresh = RateBucket.window_start <= now - window  # the window has passed: start again
    row = (
        await session.execute(
            insert.on_conflict_do_update(
                index_elements=["key"],
                set_={
                    "hits": case((fresh, 1), else_=RateBucket.hits + 1),
                    "window_start": case((fresh, insert.excluded.window_start), else_=RateBucket.window_start),
                },
            ).returning(RateBucket.hits, RateBucket.window_start)
        )
    ).one()
    if random.random() < PRUNE_SHARE:
        await session.execute(delete(RateBucket).where(RateBucket.window_start < now - 10 * window))
    if row.hits <= limit:
        return None
    return (row.window_start + window - now).total_seconds()


async def check(session: AsyncSession, key: str, *, limit: int, what: str, window_s: float = 60.0) -> None:
    """Count a hit; TooManyRequests (429, Retry-After) past the limit."""
    wait = await spend(session, key, limit=limit, window_s=window_s)
    if wait is not None:
        raise TooManyRequests(f"Too many {what} from here; wait {max(1, round(wait))} s and try again.", wait)


def address(request: Request) -> str:
    """The caller's address (the proxy's forwarded one when uvicorn trusts it: FORWARDED_ALLOW_IPS)."""
    return request.client.host if request.client else "unknown"


# Keys this process has seen past their limit, and until when (monotonic): checked before a key or a
# sign-in is even looked at, so a blocked address neither guesses on nor costs a write per try.
_blocked: dict[str, float] = {}


def forget_blocked() -> None:
    """Forget the addresses this process knows to be blocked (their counts stay in the database)."""
    _blocked.clear()


def refuse_if_blocked(key: str, what: str) -> None:
    """TooManyRequests at once while this process knows `key` to be over its limit."""
    until = _blocked.get(key)
    if until is None:
        return
    wait = until - time.monotonic()
    if wait <= 0:
        del _blocked[key]
        return
    raise TooManyRequests(f"Too many {what} from this address; wait {max(1, round(wait))} s and try again.", wait)


async def count_failure(request: Request, session: AsyncSession, key: str, *, limit: int, what: str) -> None:
    """Count a failed attempt (a bad key, a failed sign-in) so that it holds whatever the request
    does next, and raise TooManyRequests past the limit. A reading request counts in a unit of work
    of its own; a writing one, which holds the write lock on SQLite, in its own transaction,
    committed now (nothing else has been written when authentication fails)."""
    if request.method in ("GET", "HEAD"):
        async with session_scope() as own:
            wait = await spend(own, key, limit=limit)
    else:
        wait = await spend(session, key, limit=limit)
        await session.commit()
    if wait is not None:
        if len(_blocked) > 100_000:  # a flood of addresses: forget them rather than grow without end
            _blocked.clear()
        _blocked[key] = time.monotonic() + wait
        raise TooManyRequests(f"Too many {what} from this address; wait {max(1, round(wait))} s and try again.", wait)
