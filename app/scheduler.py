"""The heartbeat: which jobs run how often. The logic lives in services that take `now`."""

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx
from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client import Gauge, Histogram

from app import lease, wiring
from app.audit import anchors
from app.broadcast import sender as broadcast_sender
from app.call import chase as call_chase
from app.call import metrics as call_metrics
from app.cap import feed as cap_feed
from app.cap.identity import sender_of
from app.config import Settings
from app.db import get_database, session_scope, utc_now
from app.hazard import chase as hazard_chase
from app.ids import new_id
from app.notify import sender
from app.notify.dispatch import Dispatcher
from app.report import rollup
from app.warning import expansion, lifecycle

log = logging.getLogger(__name__)
SEND_JOB = "send-messages"
EXPAND_JOB = "expand-warnings"
METRICS_SECONDS = 15.0
SEAL_SECONDS = 60.0
JOB_SECONDS = Histogram(
    "jiaoying_scheduler_job_seconds", "Time a heartbeat job took.", ["job"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)  # fmt: skip
JOB_LAG = Gauge("jiaoying_scheduler_lag_seconds", "How late the job's last run started.", ["job"])
# A long round makes APScheduler skip ticks (max_instances=1, by design) and warn on each one; and
# it logs every run of every job at INFO. The jobs log their own failures.
logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)


class Heartbeat:
    """APScheduler jobs of one process. On PostgreSQL any number of processes run them side by
    side; on SQLite only the holder of the scheduler lease does (see app.lease)."""

    def __init__(self, dispatcher: Dispatcher, settings: Settings) -> None:
        wiring.register()  # the engine's listeners, wherever a heartbeat runs
        tick_seconds = settings.tick_seconds
        self.dispatcher = dispatcher
        self.anchors = anchors.Publisher(settings.anchor_path) if settings.anchor_path else None
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{new_id()[-6:]}"
        self.leading = not get_database().one_writer
        self.running: set[asyncio.Task[None]] = set()  # the jobs' rounds under way
        self.scheduler = AsyncIOScheduler(
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        )
        if get_database().one_writer:
            self.scheduler.add_job(self.hold_lease, "interval", seconds=tick_seconds, id="hold-lease")
        self._every(SEND_JOB, tick_seconds, self.send_messages)
        self.settings = settings
        self.broadcasting = httpx.AsyncClient(timeout=settings.webhook_timeout_s)
        self._every("send-broadcasts", tick_seconds, self.send_broadcasts)
        self._every("expire-warnings", tick_seconds, self.expire_warnings)
        self._every("chase-calls", tick_seconds, self.chase_calls)
        self._every(EXPAND_JOB, tick_seconds, self.expand_warnings)
        self._every("refresh-metrics", METRICS_SECONDS, self.refresh_metrics)
        self._every("seal-warnings", SEAL_SECONDS, self.seal_warnings)
        if self.anchors is not None:
            self._every("publish-anchors", settings.audit_anchor_seconds, self.publish_anchors)
        self.cap_feeds = settings.cap_feed_urls
        self.cap_sender = sender_of(settings)
        self.cap_max_bytes = settings.cap_max_bytes
        self.fanout_above = settings.async_fanout_above
        if self.cap_feeds:  # polled at start, then every interval
            self._every("poll-cap-feeds", settings.cap_poll_seconds, self.poll_cap_feeds, at_start=True)
        self.scheduler.add_listener(self._submitted, EVENT_JOB_SUBMITTED)

    def _every(
        self, job_id: str, seconds: float, work: Callable[[], Awaitable[None]], *, at_start: bool = False
    ) -> None:
        """A job run every `seconds` while this process leads; timed, and its failures logged (it
        runs again at its next turn)."""

        async def run() -> None:
            if not self.leading:
                return
            started = time.perf_counter()
            task = asyncio.current_task()
            assert task is not None
            self.running.add(task)
            try:
                await work()
            except asyncio.CancelledError:
                # Only `shutdown` cancels a job: the transaction under way rolls back, and whatever
                # the round had not committed is done again by the next process to run the job.
                log.info("scheduler job %s stopped mid-round by shutdown", job_id)
            except Exception:
                log.exception("scheduler job %s failed; it runs again in %s s", job_id, seconds)
            finally:
                self.running.discard(task)
                JOB_SECONDS.labels(job_id).observe(time.perf_counter() - started)

        first = {"next_run_time": datetime.now(self.scheduler.timezone)} if at_start else {}
        self.scheduler.add_job(run, "interval", seconds=seconds, id=job_id, **first)

    def _submitted(self, event: JobSubmissionEvent) -> None:
        """How late a job started against its schedule (a long round delays the next)."""
        late = datetime.now(UTC) - max(event.scheduled_run_times)
        JOB_LAG.labels(event.job_id).set(max(late.total_seconds(), 0.0))

    async def hold_lease(self) -> None:
        try:
            async with session_scope() as session:
                leading = await lease.hold(session, self.holder, now=utc_now())
        except Exception:
            log.exception("renewing the scheduler lease failed; standing down until it succeeds")
            leading = False
        if leading != self.leading:
            log.warning(
                "scheduler %s: %s", self.holder,
                "holding the lease, running jobs" if leading else "another process holds the lease; standing down",
            )  # fmt: skip
        self.leading = leading

    async def send_messages(self) -> None:
        await sender.send_due(self.dispatcher, settings=self.settings, now=utc_now())

    async def send_broadcasts(self) -> None:
        await broadcast_sender.send_due(self.settings, self.broadcasting, now=utc_now())

    async def expire_warnings(self) -> None:
        plan = sender.plan_of(self.dispatcher, self.settings)
        while True:  # one warning per transaction: chain heads are then locked one at a time
            async with session_scope() as session:
                if not await lifecycle.expire_due(session, plan=plan, now=utc_now(), limit=1):
                    return

    async def chase_calls(self) -> None:
        now = utc_now()
        await call_chase.chase_due(now=now)
        await hazard_chase.chase_due(now=now)

    async def expand_warnings(self) -> None:
        async with session_scope(read_only=True) as session:
            expanding = await expansion.expanding_ids(session)
        for warning_id in expanding:
            while True:  # a slice per transaction; its calls are sent while the next is written
                async with session_scope() as session:
                    if not await expansion.step(session, warning_id, now=utc_now()):
                        break
                self.wake_sender()

    async def seal_warnings(self) -> None:
        while True:  # one warning per transaction
            async with session_scope() as session:
                if await rollup.seal_due(session, now=utc_now()) is None:
                    return

    async def refresh_metrics(self) -> None:
        async with session_scope(read_only=True) as session:
            await call_metrics.refresh_backlog(session)

    async def publish_anchors(self) -> None:
        assert self.anchors is not None
        async with session_scope(read_only=True) as session:
            await self.anchors.publish(session, now=utc_now())

    async def poll_cap_feeds(self) -> None:
        changed = await cap_feed.poll_feeds(
            self.cap_feeds,
            sender=self.cap_sender,
            max_bytes=self.cap_max_bytes,
            fanout_above=self.fanout_above,
            plan=sender.plan_of(self.dispatcher, self.settings),
            now=utc_now(),
        )
        if changed:
            self.wake_sender()

    def wake_sender(self) -> None:
        """Run the sender now rather than at the next tick (after a warning is issued)."""
        self._wake(SEND_JOB)

    def wake_expansion(self) -> None:
        """Start storing an expanding warning's calls now rather than at the next tick."""
        self._wake(EXPAND_JOB)

    def _wake(self, job_id: str) -> None:
        job = self.scheduler.get_job(job_id)
        if job is not None:
            job.modify(next_run_time=datetime.now(self.scheduler.timezone))

    def start(self) -> None:
        self.scheduler.start()

    async def shutdown(self) -> None:
        """Stop the heartbeat: no job starts again, and the rounds under way are cancelled and
        awaited, so that none is still using the database when its engine is disposed."""
        self.scheduler.shutdown(wait=False)
        await asyncio.gather(*self.running, return_exceptions=True)
        await self.broadcasting.aclose()
