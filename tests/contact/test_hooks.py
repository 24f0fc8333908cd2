"""People leaving the roster tell the engine through contact.hooks; with nothing registered the
change stops, loudly, rather than leave them chased."""

from datetime import UTC, datetime

import pytest

from app.contact import hooks


async def test_leaving_with_nobody_listening_stops_the_change(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hooks, "_listeners", [])
    with pytest.raises(RuntimeError, match=r"wiring\.register"):
        await hooks.left(None, ["someone"], actor="test", now=datetime.now(UTC))  # type: ignore[arg-type]
