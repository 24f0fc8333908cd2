"""Fixtures of the gateway tests: a test gateway on loopback, and the service checking callbacks with its secret."""

from collections.abc import Iterator
from typing import Any

import pytest

from tests.notify.receiver import SECRET, Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver(SECRET).start()
    yield running
    running.stop()


@pytest.fixture
def gateway_secret(app: Any) -> Iterator[None]:
    """The service under test checks receipts and replies with SECRET."""
    settings = app.state.settings
    before = settings.webhook_secret
    settings.webhook_secret = SECRET
    yield
    settings.webhook_secret = before
