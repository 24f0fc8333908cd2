"""A scheduler-only process: the heartbeat without the HTTP API.

    python -m app.worker

For deployments that keep API replicas free of background work (JIAOYING_SCHEDULER=off there):
run one or more of these beside them. Settings come from the same JIAOYING_* variables.
"""

import asyncio
import logging
import signal

from app import logs, wiring
from app.config import get_settings
from app.notify.providers import make_dispatcher
from app.scheduler import Heartbeat

log = logging.getLogger("jiaoying.worker")


async def run() -> None:
    settings = get_settings()
    database = wiring.configure(settings)
    dispatcher = make_dispatcher(settings)
    await dispatcher.start()
    heartbeat = Heartbeat(dispatcher, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    heartbeat.start()
    log.info("jiaoying worker running, a tick every %s s", settings.tick_seconds)
    try:
        await stop.wait()
    finally:
        await heartbeat.shutdown()
        await dispatcher.close()
        await database.engine.dispose()
        log.info("jiaoying worker stopped")


def main() -> None:
    logs.configure()
    asyncio.run(run())


if __name__ == "__main__":
    main()
