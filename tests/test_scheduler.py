"""The heartbeat stops cleanly: a round under way is cancelled and awaited, and logged as such."""

import asyncio
import logging
import time
from datetime import datetime
from typing import Any

import pytest

from app.config import Settings
from app.db import get_database
from app.notify import sender
from app.notify.console import ConsoleProvider
from app.notify.dispatch import Dispatcher
from app.scheduler import Heartbeat


async def test_shutdown_awaits_the_round_under_way_and_logs_no_error(
    app: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    started = asyncio.Event()

    async def a_long_round(dispatcher: Dispatcher, *, settings: Settings, now: datetime) -> int:
        started.set()
        await asyncio.sleep(30)
        return 0

    monkeypatch.setattr(sender, "send_due", a_long_round)
    heartbeat = Heartbeat(Dispatcher.serving(ConsoleProvider()), Settings(tick_seconds=0.05))
    if get_database().is_sqlite:
        await heartbeat.hold_lease()  # on SQLite only the lease holder runs jobs
    heartbeat.start()
    heartbeat.wake_sender()
    await asyncio.wait_for(started.wait(), timeout=5)

    began = time.perf_counter()
    await heartbeat.shutdown()
    assert time.perf_counter() - began < 1
    assert not heartbeat.running
    assert "scheduler job send-messages stopped mid-round by shutdown" in caplog.text
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR] == []
