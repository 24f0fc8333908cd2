"""Group commit: requests that arrive together are written together.

When a warning goes out, thousands of people press 收到 within a minute, and a gateway reports on
every message it took. One transaction per request spends most of its time on per-statement
overhead and on the warning's chain head, which every event of the warning takes in turn. So each
request queues its item and waits; a single task per process takes whatever has queued (up to
`batch`, after at most `window_s`), writes them all in one transaction, and only then answers
every request. An answer therefore still means "stored": a crash before the commit answers
nobody, and the sender of the request sends it again.

One group at a time per process: while it commits, the next one gathers. Two groups side by side
measured slower on PostgreSQL (issue 3's bench): each was half the size for the same cost.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import retryable, session_scope, utc_now

log = logging.getLogger(__name__)
ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")
# Writes a group in the given transaction; a result for each item, in order.
Work = Callable[[AsyncSession, list[ItemT], datetime], Awaitable[list[ResultT]]]


@dataclass
class _Pending(Generic[ItemT, ResultT]):
    item: ItemT
    future: asyncio.Future[ResultT]


class GroupCommit(Generic[ItemT, ResultT]):
    """Items of one process, written in groups by `work`."""

    def __init__(self, name: str, work: Work[ItemT, ResultT], *, batch: int = 500, window_s: float = 0.002) -> None:
        self.name = name
        self.work = work
        self.batch = batch
        self.window_s = window_s
        self._queue: asyncio.Queue[_Pending[ItemT, ResultT]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: ItemT) -> ResultT:
        """Write the item with whatever else has queued; returns its result once committed."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=self.name)
        future: asyncio.Future[ResultT] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(item, future))
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            group = [await self._queue.get()]
            deadline = loop.time() + self.window_s
            while len(group) < self.batch:
                timeout = deadline - loop.time()
                try:
                    if timeout <= 0:
                        group.append(self._queue.get_nowait())
                    else:
                        group.append(await asyncio.wait_for(self._queue.get(), timeout))
                except (asyncio.QueueEmpty, TimeoutError):
                    break
            await self._commit(group)

    async def _commit(self, group: list[_Pending[ItemT, ResultT]]) -> None:
        items = [pending.item for pending in group]
        try:
            try:
                async with session_scope() as session:
                    results = await self.work(session, items, utc_now())
            except DBAPIError as exc:
                if not retryable(exc):
                    raise
                # Chosen as a deadlock victim, or a serialization failure: once more, at once.
                async with session_scope() as session:
                    results = await self.work(session, items, utc_now())
        except Exception as exc:  # the database is down or refused the group: every request gets the error
            log.warning("%s: a group of %d failed: %s", self.name, len(group), exc)
            for pending in group:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            return
        for pending, result in zip(group, results, strict=False):
            if not pending.future.done():
                pending.future.set_result(result)
        for pending in group[len(results) :]:  # a `work` that answered for fewer items than it was given
            if not pending.future.done():
                pending.future.set_exception(RuntimeError(f"{self.name}: no result for this item"))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
