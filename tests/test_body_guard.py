"""Bodies are read whole, within a time and a size, before the application sees the request."""

import asyncio
from typing import Any

import pytest

from app.ops import RequestGuard


def scope(path: str = "/ack/x/feedback") -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": path, "headers": [(b"content-type", b"application/json")]}


async def run(guard: RequestGuard, messages: list[dict[str, Any]], *, then_wait: bool) -> list[dict[str, Any]]:
    queue = list(messages)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if queue:
            return queue.pop(0)
        if then_wait:
            await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await guard(scope(), receive, send)
    return sent


async def run_at(guard: RequestGuard, path: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    queue = list(messages)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await guard(scope(path), receive, send)
    return sent


async def test_a_body_that_trickles_gets_408_and_the_app_never_sees_it() -> None:
    seen: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append((await receive())["body"])

    guard = RequestGuard(app, max_json_bytes=1000, max_import_bytes=1000, body_timeout_s=0.2)
    sent = await asyncio.wait_for(
        run(guard, [{"type": "http.request", "body": b'{"sta', "more_body": True}], then_wait=True), timeout=5
    )
    assert sent[0]["status"] == 408 and seen == []


async def test_the_app_gets_the_whole_body_once_it_has_arrived() -> None:
    bodies: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message["body"]
            if not message["more_body"]:
                break
        bodies.append(body)
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    guard = RequestGuard(app, max_json_bytes=1000, max_import_bytes=1000, body_timeout_s=1)
    parts = [{"type": "http.request", "body": b"ab", "more_body": True},
             {"type": "http.request", "body": b"cd", "more_body": False}]  # fmt: skip
    sent = await run(guard, parts, then_wait=False)
    assert bodies == [b"abcd"] and sent[0]["status"] == 201


async def test_an_import_without_a_key_is_refused_before_its_body_is_read() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the application must not run")

    guard = RequestGuard(app, max_json_bytes=10, max_import_bytes=10**9, body_timeout_s=1, import_timeout_s=600)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        raise AssertionError("the body must not be read")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await guard({**scope("/api/v1/contacts/import"), "headers": []}, receive, send)
    assert sent[0]["status"] == 401
    # Any other address ending in /import is no import: the small limit applies.
    sent.clear()
    parts = [{"type": "http.request", "body": b"x" * 20, "more_body": False}]
    guard = RequestGuard(app, max_json_bytes=10, max_import_bytes=10**9, body_timeout_s=1)
    assert (await run_at(guard, "/ack/x/import", parts))[0]["status"] == 413


@pytest.mark.parametrize("gone", [True, False])
async def test_a_client_gone_mid_body_or_a_body_too_large_is_no_500(gone: bool) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the application must not run")

    guard = RequestGuard(app, max_json_bytes=3, max_import_bytes=3, body_timeout_s=1)
    first = {"type": "http.request", "body": b"ab" if gone else b"abcdef", "more_body": True}
    sent = await run(guard, [first], then_wait=False)
    assert sent == [] if gone else sent[0]["status"] == 413
