"""A gateway simulator: stands in for an SMS/voice gateway on loopback, for the tour, compose and
the benchmarks.

    python -m app.notify.simulator --port 9100 --callback http://127.0.0.1:8000 \\
        --secret "$JIAOYING_WEBHOOK_SECRET" --answer 0.6 --fail 0.05 --delay 5:30

It receives the webhook provider's POSTs (`/messages`, signatures checked: 401 otherwise), in
batches (`{"messages": [...]}`) or one message at a time, and answers each batch with a result per
message (`rejected` for a `--reject` share, as a gateway does for a number it cannot serve). It
takes each `message_id` once, posts signed delivery receipts back in arrays (`failed` for a
`--fail` share), and answers a `--answer` share of the people called with an SMS reply 收到 (or the
voice key 1) after a random delay in `--delay` seconds, once per call. `POST /control
{"down": true}`, signed as the messages are (`--switch down` sends it), makes it answer 503 until
`{"down": false}` (`--switch up`); `GET /stats` counts what it saw.

It is the village loudspeakers' platform too: `POST /broadcasts` takes a broadcast (signed with
`--broadcast-secret`, JIAOYING_BROADCAST_SECRET, else the webhook secret), once per `broadcast_id`,
and posts its receipt back to `/api/v1/providers/broadcast/receipts`: played (`delivered`), or
`failed` for the `--fail` share.
"""

import argparse
import asyncio
import logging
import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import uvicorn
from fastapi import FastAPI, Request, Response

from app import logs
from app.notify import webhook

log = logging.getLogger("jiaoying.simulator")


class Gateway:
    """The simulator's state and behaviour, separate from its HTTP app (tests build it directly)."""

    def __init__(
        self,
        *,
        callback: str,
        secret: str,
        answer: float,
        fail: float,
        delay: tuple[float, float],
        receipts: bool = True,
        reject: float = 0.0,
        broadcast_secret: str | None = None,
    ) -> None:
        self.callback = callback.rstrip("/")
        self.secret = secret
        self.broadcast_secret = broadcast_secret or secret
        self.broadcasts: set[str] = set()
        self.answer = answer
        self.fail = fail
        self.delay = delay
        self.receipts = receipts
        self.reject = reject
        self.down = False
        self.pending_receipts: list[dict[str, Any]] = []
        self.seen: set[str] = set()
        self.answered_calls: set[str] = set()
        self.stats = {"received": 0, "batches": 0, "duplicates": 0, "rejected": 0, "refused": 0, "receipts": 0,
                      "replies": 0, "callback_errors": 0, "broadcasts": 0, "broadcast_receipts": 0}  # fmt: skip
        self.client: httpx.AsyncClient | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def take_batch(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A batch handed over: a result per message."""
        self.stats["batches"] += 1
        return [await self.take(message) for message in messages]

    async def take(self, message: dict[str, Any]) -> dict[str, Any]:
        """A message handed over: the receipt, and perhaps a reply, follow in the background."""
        self.stats["received"] += 1
        if message["message_id"] in self.seen:
            self.stats["duplicates"] += 1
            return {"message_id": message["message_id"], "status": "accepted"}
        if random.random() < self.reject:
            self.stats["rejected"] += 1
            return {
                "message_id": message["message_id"],
                "status": "rejected",
                "error": "simulated: not a mobile number",
            }
        self.seen.add(message["message_id"])
        if self.receipts or self.answer > 0:
            self._later(self._receipt_and_reply(message))
        return {"message_id": message["message_id"], "status": "accepted"}

    def _later(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _receipt_and_reply(self, message: dict[str, Any]) -> None:
        await asyncio.sleep(random.uniform(0.05, 0.5))
        failed = random.random() < self.fail
        receipt = {"message_id": message["message_id"], "status": "failed" if failed else "delivered"}
        if failed:
            receipt["error"] = "simulated: handset unreachable"
        if self.receipts:
            self.pending_receipts.append(receipt)
        call_id = message["call_id"]
        if failed or message["kind"] not in ("alert", "escalation") or call_id in self.answered_calls:
            return
        if random.random() >= self.answer:
            self.answered_calls.add(call_id)  # this person stays silent on this call
            return
        self.answered_calls.add(call_id)
        await asyncio.sleep(random.uniform(*self.delay))
        reply: dict[str, Any] = {"inbound_id": f"sim-{message['message_id']}", "from": message["to"],
                                 "channel": message["channel"]}  # fmt: skip
        reply.update({"digits": "1"} if message["channel"] == "voice" else {"text": "收到"})
        await self._post("/api/v1/providers/webhook/inbound", reply, "replies")

    def take_broadcast(self, broadcast: dict[str, Any]) -> None:
        """A broadcast to play: once per id, its receipt posted back a moment later."""
        if broadcast["broadcast_id"] in self.broadcasts:
            return
        self.broadcasts.add(broadcast["broadcast_id"])
        self.stats["broadcasts"] += 1
        self._later(self._broadcast_receipt(broadcast))

    async def _broadcast_receipt(self, broadcast: dict[str, Any]) -> None:
        await asyncio.sleep(random.uniform(0.05, 0.5))
        receipt = {"broadcast_id": broadcast["broadcast_id"], "status": "delivered"}
        if random.random() < self.fail:
            receipt = {**receipt, "status": "failed", "error": "simulated: the loudspeaker did not answer"}
        await self._post("/api/v1/providers/broadcast/receipts", receipt, "broadcast_receipts",
                         secret=self.broadcast_secret)  # fmt: skip

    async def flush_receipts(self) -> None:
        """Post the receipts gathered so far, in arrays of at most 500 (until cancelled)."""
        while True:
            await asyncio.sleep(0.2)
            while self.pending_receipts:
                batch, self.pending_receipts = self.pending_receipts[:500], self.pending_receipts[500:]
                await self._post("/api/v1/providers/webhook/receipts", batch, "receipts", count=len(batch))

    async def _post(self, path: str, document: Any, counter: str, *, count: int = 1, secret: str | None = None) -> None:
        body = orjson.dumps(document)
        for attempt in range(5):
            try:
                assert self.client is not None
                response = await self.client.post(
                    self.callback + path, content=body, headers=webhook.signed_headers(secret or self.secret, body)
                )
                if response.is_success:
                    self.stats[counter] += count
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5 * 2**attempt)
        self.stats["callback_errors"] += 1
        log.warning("could not post %s to %s", path, self.callback)


def create_app(gateway: Gateway) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        gateway.client = httpx.AsyncClient(timeout=10)
        gateway._later(gateway.flush_receipts())
        yield
        for task in list(gateway.tasks):
            task.cancel()
        await gateway.client.aclose()

    app = FastAPI(title="Jiaoying gateway simulator", lifespan=lifespan)

    async def signed_body(request: Request) -> bytes | None:
        """The body, if signed with the webhook secret; None otherwise."""
        body = await request.body()
        headers = request.headers
        timestamp, given = headers.get("x-jiaoying-timestamp"), headers.get("x-jiaoying-signature")
        return body if webhook.verify(gateway.secret, timestamp, given, body) else None

    def unsigned() -> Response:
        return Response('{"error": "bad signature"}', status_code=401, media_type="application/json")

    @app.post("/messages")
    async def messages(request: Request) -> Response:
        if (body := await signed_body(request)) is None:
            return unsigned()
        if gateway.down:
            gateway.stats["refused"] += 1
            return Response('{"error": "down"}', status_code=503, media_type="application/json")
        document = orjson.loads(body)
        batch = document["messages"] if isinstance(document, dict) and "messages" in document else [document]
        results = await gateway.take_batch(batch)
        return Response(orjson.dumps({"results": results}), media_type="application/json")

    @app.post("/broadcasts")
    async def broadcasts(request: Request) -> Response:
        """The loudspeakers' platform: a broadcast to play."""
        body = await request.body()
        timestamp, given = request.headers.get("x-jiaoying-timestamp"), request.headers.get("x-jiaoying-signature")
        if not webhook.verify(gateway.broadcast_secret, timestamp, given, body):
            return unsigned()
        gateway.take_broadcast(orjson.loads(body))
        return Response(status_code=202)

    @app.post("/control")
    async def control(request: Request) -> Response:
        """Go down (answer 503) or come back; signed like the messages, for it stops delivery."""
        if (body := await signed_body(request)) is None:
            return unsigned()
        gateway.down = bool(orjson.loads(body).get("down"))
        return Response(orjson.dumps({"down": gateway.down}), media_type="application/json")

    @app.get("/stats")
    async def stats() -> dict[str, int]:
        return {**gateway.stats, "distinct": len(gateway.seen)}

    return app


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Jiaoying's gateway simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--callback", default=os.environ.get("JIAOYING_PUBLIC_URL", "http://127.0.0.1:8000"),
                        help="the Jiaoying service receipts and replies go to")  # fmt: skip
    parser.add_argument("--secret", default=os.environ.get("JIAOYING_WEBHOOK_SECRET"))
    parser.add_argument("--broadcast-secret", default=os.environ.get("JIAOYING_BROADCAST_SECRET"),
                        help="the loudspeaker platform's key (else the webhook secret)")  # fmt: skip
    parser.add_argument("--answer", type=float, default=0.6, help="share of people who answer (0-1)")
    parser.add_argument("--fail", type=float, default=0.0, help="share of messages that fail (0-1)")
    parser.add_argument("--reject", type=float, default=0.0, help="share of messages refused outright (0-1)")
    parser.add_argument("--delay", default="2:20", help="seconds before an answer, as MIN:MAX")
    parser.add_argument("--no-receipts", action="store_true", help="post no delivery receipts (benchmarks)")
    parser.add_argument("--switch", choices=["down", "up"],
                        help="tell the simulator at --host/--port to refuse everything (down) or not (up)")  # fmt: skip
    return parser


def main() -> None:
    parser_ = parser()
    args = parser_.parse_args()
    if not args.secret:
        parser_.error("--secret (or JIAOYING_WEBHOOK_SECRET) is required")
    if args.switch:
        body = orjson.dumps({"down": args.switch == "down"})
        url = f"http://{args.host}:{args.port}/control"
        print(httpx.post(url, content=body, headers=webhook.signed_headers(args.secret, body)).text)
        return
    low, high = (float(part) for part in args.delay.split(":"))
    gateway = Gateway(callback=args.callback, secret=args.secret, answer=args.answer, fail=args.fail,
                      delay=(low, high), receipts=not args.no_receipts, reject=args.reject,
                      broadcast_secret=args.broadcast_secret)  # fmt: skip
    logs.configure()
    log.info("gateway simulator on http://%s:%d/messages, answering %.0f%%", args.host, args.port, args.answer * 100)
    uvicorn.run(create_app(gateway), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
