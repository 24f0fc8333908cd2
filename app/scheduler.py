"""The heartbeat: which jobs run how often. The logic lives in services that take `now`."""

import logging
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.call import service as call_service
from app.db import session_scope, utc_now
from app.notify import sender
from app.notify.providers import Provider
from app.warning import lifecycle

log = logging.getLogger(__name__)
SEND_JOB = "send-messages"
# A long round makes APScheduler skip ticks (max_instances=1, by design) and warn on each one.
logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)


class Heartbeat:
    """APScheduler jobs of one process; any number of processes may run them side by side."""

    def __init__(self, provider: Provider, tick_seconds: float) -> None:
        self.provider = provider
        self.scheduler = AsyncIOScheduler(
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        )
        self.scheduler.add_job(self.send_messages, "interval", seconds=tick_seconds, id=SEND_JOB)
        self.scheduler.add_job(self.expire_warnings, "interval", seconds=tick_seconds, id="expire-warnings")
        self.scheduler.add_job(self.close_unanswered, "interval", seconds=tick_seconds, id="close-unanswered")

    async def send_messages(self) -> None:
        try:
            await sender.send_due(self.provider, now=utc_now())
        except Exception:
            log.exception("sending messages failed; retrying on the next tick")

    async def expire_warnings(self) -> None:
        try:
            while True:  # one warning per transaction: chain heads are then locked one at a time
                async with session_scope() as session:
                    if not await lifecycle.expire_due(session, now=utc_now(), limit=1):
                        break
        except Exception:
            log.exception("expiring warnings failed; retrying on the next tick")

    async def close_unanswered(self) -> None:
        try:
            async with session_scope() as session:
                await call_service.close_unanswered(session, now=utc_now())
        except Exception:
            log.exception("closing unanswered calls failed; retrying on the next tick")

    def wake_sender(self) -> None:
        """Run the sender now rather than at the next tick (after a warning is issued)."""
        job = self.scheduler.get_job(SEND_JOB)
        if job is not None:
            job.modify(next_run_time=datetime.now(self.scheduler.timezone))

    def start(self) -> None:
        self.scheduler.start()

    def shutdown(self) -> None:
        self.scheduler.shutdown(wait=False)
