"""The heartbeat: which jobs run how often. The logic lives in services that take `now`."""

import logging
import os
import socket
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app import lease
from app.audit import anchors
from app.call import escalation
from app.config import Settings
from app.db import get_database, new_id, session_scope, utc_now
from app.notify import sender
from app.notify.providers import Provider
from app.warning import lifecycle

log = logging.getLogger(__name__)
SEND_JOB = "send-messages"
# A long round makes APScheduler skip ticks (max_instances=1, by design) and warn on each one; and
# it logs every run of every job at INFO. The jobs log their own failures.
logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)


class Heartbeat:
    """APScheduler jobs of one process. On PostgreSQL any number of processes run them side by
    side; on SQLite only the holder of the scheduler lease does (see app.lease)."""

    def __init__(self, provider: Provider, settings: Settings) -> None:
        tick_seconds = settings.tick_seconds
        self.provider = provider
        self.anchors = anchors.Publisher(settings.anchor_path) if settings.anchor_path else None
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{new_id()[-6:]}"
        self.leading = not get_database().is_sqlite
        self.scheduler = AsyncIOScheduler(
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        )
        if get_database().is_sqlite:
            self.scheduler.add_job(self.hold_lease, "interval", seconds=tick_seconds, id="hold-lease")
        self.scheduler.add_job(self.send_messages, "interval", seconds=tick_seconds, id=SEND_JOB)
        self.scheduler.add_job(self.expire_warnings, "interval", seconds=tick_seconds, id="expire-warnings")
        self.scheduler.add_job(self.chase_calls, "interval", seconds=tick_seconds, id="chase-calls")
        if self.anchors is not None:
            self.scheduler.add_job(
                self.publish_anchors, "interval", seconds=settings.audit_anchor_seconds, id="publish-anchors"
            )

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
        if not self.leading:
            return
        try:
            await sender.send_due(self.provider, now=utc_now())
        except Exception:
            log.exception("sending messages failed; retrying on the next tick")

    async def expire_warnings(self) -> None:
        if not self.leading:
            return
        try:
            while True:  # one warning per transaction: chain heads are then locked one at a time
                async with session_scope() as session:
                    if not await lifecycle.expire_due(session, now=utc_now(), limit=1):
                        break
        except Exception:
            log.exception("expiring warnings failed; retrying on the next tick")

    async def chase_calls(self) -> None:
        if not self.leading:
            return
        try:
            await escalation.chase_due(now=utc_now())
        except Exception:
            log.exception("chasing unanswered calls failed; retrying on the next tick")

    async def publish_anchors(self) -> None:
        if not self.leading or self.anchors is None:
            return
        try:
            async with session_scope(read_only=True) as session:
                await self.anchors.publish(session, now=utc_now())
        except Exception:
            log.exception("publishing the audit chain heads failed; retrying at the next interval")

    def wake_sender(self) -> None:
        """Run the sender now rather than at the next tick (after a warning is issued)."""
        job = self.scheduler.get_job(SEND_JOB)
        if job is not None:
            job.modify(next_run_time=datetime.now(self.scheduler.timezone))

    def start(self) -> None:
        self.scheduler.start()

    def shutdown(self) -> None:
        self.scheduler.shutdown(wait=False)
