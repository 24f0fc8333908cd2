"""Group commit for acknowledgements through the link.

When a warning goes out, thousands of people press 收到 within a minute. One transaction per press
spends most of its time on per-statement overhead, so presses arriving together are answered
together: each request queues its token and waits; a single task per process takes whatever has
queued (up to BATCH, after at most WINDOW), acknowledges them all in one transaction with a
handful of set-based statements, and only then answers every request. A response therefore
still means "stored": a crash before the commit answers nobody, and the link can be pressed
again.

One group at a time per process: while it commits, the next one gathers. Two groups side by side
measured slower on PostgreSQL (issue 3's bench): each was half the size for the same cost.
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import DBAPIError

from app import logs
from app.call import service as call_service
from app.db import retryable, session_scope, utc_now

log = logging.getLogger(__name__)
BATCH = 500
WINDOW_S = 0.002


@dataclass
class _Pending:
    token_hash: str
    future: asyncio.Future[call_service.AckOutcome]
    request_id: str | None


class AckBatcher:
    """Acknowledgements of one process, committed in groups."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def acknowledge(self, token_hash: str) -> call_service.AckOutcome:
        """Acknowledge the call behind a token hash; returns once the answer is committed."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="ack-batcher")
        future: asyncio.Future[call_service.AckOutcome] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(token_hash, future, logs.request_id.get()))
        return await future

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            deadline = asyncio.get_running_loop().time() + WINDOW_S
            while len(batch) < BATCH:
                timeout = deadline - asyncio.get_running_loop().time()
                try:
                    if timeout <= 0:
                        batch.append(self._queue.get_nowait())
                    else:
                        batch.append(await asyncio.wait_for(self._queue.get(), timeout))
                except (asyncio.QueueEmpty, TimeoutError):
                    break
            await self._commit(batch, utc_now())

    async def _commit(self, batch: list[_Pending], now: datetime) -> None:
        hashes = {pending.token_hash: pending.request_id for pending in batch}
        try:
            try:
                async with session_scope() as session:
                    outcomes = await call_service.acknowledge_links(session, hashes, now=now)
            except DBAPIError as exc:
                if not retryable(exc):
                    raise
                # Chosen as a deadlock victim, or a serialization failure: once more, at once.
                async with session_scope() as session:
                    outcomes = await call_service.acknowledge_links(session, hashes, now=utc_now())
        except Exception as exc:  # the database is down or refused the batch: every request gets the error
            log.warning("acknowledgement batch of %d failed: %s", len(batch), exc)
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            return
        for pending in batch:
            if not pending.future.done():
                pending.future.set_result(outcomes[pending.token_hash])

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
