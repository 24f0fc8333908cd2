"""The scheduler lease: on SQLite, a second scheduler stands down until the first stops renewing."""

from datetime import timedelta

from app import lease
from app.db import session_scope, utc_now


async def test_one_holder_at_a_time_and_a_takeover_when_it_lapses(app) -> None:
    now = utc_now()
    async with session_scope() as session:
        assert await lease.hold(session, "first", now=now)
    async with session_scope() as session:
        assert not await lease.hold(session, "second", now=now + timedelta(seconds=1))
    async with session_scope() as session:
        assert await lease.hold(session, "first", now=now + timedelta(seconds=10))  # renewed
    async with session_scope() as session:
        assert not await lease.hold(session, "second", now=now + timedelta(seconds=20))
    lapsed = now + timedelta(seconds=10 + lease.LEASE_SECONDS + 1)
    async with session_scope() as session:
        assert await lease.hold(session, "second", now=lapsed)
    async with session_scope() as session:
        assert not await lease.hold(session, "first", now=lapsed)
