"""The board's live stream: the state first, then only what changed, as answers come in."""

from collections.abc import AsyncIterator

import orjson
import pytest
from httpx import AsyncClient
from starlette.requests import Request

from app.auth.service import Principal
from app.web import live
from tests.factories import VILLAGE, calls, issue, roster, send_all


def _events(chunk: str) -> dict[str, dict]:
    found = {}
    for block in chunk.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if "event" in lines:
            found[lines["event"]] = orjson.loads(lines["data"])
    return found


def _browser() -> Request:
    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": True}

    return Request({"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""}, receive)


async def _next(stream: AsyncIterator[str]) -> str:
    chunk = await anext(stream)
    while chunk.startswith((":", "retry")):
        chunk = await anext(stream)
    return chunk


async def test_the_stream_sends_the_board_then_each_change(
    client: AsyncClient, regions: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "POLL_SECONDS", 0.05)
    phones = await roster(client, skip=("650107001002",))
    warning = await issue(client)
    stream = live.board_events(_browser(), warning["id"], Principal(name="admin", role="admin"), prefix=None,
                               with_regions=True)  # fmt: skip
    first = _events(await _next(stream))
    assert first["regions"][VILLAGE] == "waiting" and first["regions"]["650107001002"] == "uncovered"
    assert first["summary"]["regions.reached"] == 0 and first["summary"]["status"] == "生效中"
    sent = await send_all()  # the first attempt of every call goes out
    notified = _events(await _next(stream))
    assert "regions" not in notified and len(notified["calls"]) == sent // 2  # an SMS and a voice call each
    assert {entry["label"] for entry in notified["calls"].values()} == {"已通知"}
    assert {entry["attempts"] for entry in notified["calls"].values()} == {1}
    call = next(c for c in await calls(client, warning["id"]) if c["contact"]["phone"] == phones[VILLAGE][0])
    await client.post(f"/api/v1/calls/{call['id']}/ack", json={"method": "radio", "note": ""})
    change = _events(await _next(stream))
    assert change["regions"] == {VILLAGE: "reached"}  # only what changed
    assert change["calls"] == {call["id"]: {"status": "acknowledged", "label": "已应答", "attempts": 1}}
    assert change["summary"]["regions.reached"] == 1 and change["summary"]["alert.acknowledged"] == 1
    await client.post(f"/api/v1/warnings/{warning['id']}/cancel", json={"reason": "", "kind": "lifted"})
    ended = _events(await _next(stream))
    assert ended["summary"]["open"] is False and ended["summary"]["status"] == "已解除"
    await stream.aclose()
