"""The `webhook` provider: messages POSTed as signed JSON to an SMS/voice gateway over HTTP.

Signing, both ways: `X-Jiaoying-Timestamp: <unix seconds>` and `X-Jiaoying-Signature:
sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">` with JIAOYING_WEBHOOK_SECRET; a receiver
refuses a timestamp more than five minutes off, and compares in constant time.

One `httpx.AsyncClient` per process (opened and closed with the application), with connection
limits and timeouts; at most `concurrency` requests in flight. A message the gateway does not
accept (an error, a 5xx or any non-2xx, a timeout) is not retried here: the sender puts it back
as pending with an exponential, jittered delay (at most 60 s) and hands it over again later,
under the same id, which gateways deduplicate on.

A gateway that keeps failing is not hammered: after a round in which nothing got through, the
provider backs off (1, 2, 4 ... 60 s, with jitter), says so in the log and in
`jiaoying_gateway_backoff_seconds`, and sends nothing until then; the first round after a
back-off probes with one message before sending the rest. The scheduler's other jobs run on
meanwhile, so deadlines pass and the ladder moves on; attempts held back merge when it returns.

A per-channel rate limit (messages per second; gateways cap them) queues rather than drops: a
round waits for its turn, and the sender claims only what the limit lets out in a few seconds.
"""

import asyncio
import hashlib
import hmac
import logging
import random
import time

import httpx
import orjson
from prometheus_client import Counter, Gauge

from app.notify.providers import Outcome, Outgoing

log = logging.getLogger(__name__)
MAX_SKEW_S = 300
MAX_BACKOFF_S = 60.0

GATEWAY_ERRORS = Counter("jiaoying_gateway_errors_total", "Messages a gateway did not accept", ["reason"])
GATEWAY_BACKOFF = Gauge("jiaoying_gateway_backoff_seconds", "Seconds the provider is backing off a failing gateway")


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Jiaoying-Signature value of a body sent at `timestamp`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_headers(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    timestamp = str(int(now if now is not None else time.time()))
    return {
        "Content-Type": "application/json",
        "X-Jiaoying-Timestamp": timestamp,
        "X-Jiaoying-Signature": signature(secret, timestamp, body),
    }


def verify(secret: str, timestamp: str | None, given: str | None, body: bytes, *, now: float | None = None) -> bool:
    """Whether a request is signed with `secret`, within five minutes; compared in constant time."""
    if not timestamp or not given or not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return False
    if abs((now if now is not None else time.time()) - int(timestamp)) > MAX_SKEW_S:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body).encode(), given.encode())


def backoff_s(tries: int, *, base: float = 1.0, cap: float = MAX_BACKOFF_S) -> float:
    """Exponential back-off with full jitter in its upper half: 1, 2, 4 ... seconds, at most `cap`."""
    ceiling = min(cap, base * 2 ** min(max(tries - 1, 0), 16))
    return random.uniform(ceiling / 2, ceiling)


class RateLimit:
    """A token bucket: `rate` messages per second, bursts up to one second's worth; waits, never drops."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = max(rate, 1.0)
        self.updated = time.monotonic()
        self.lock = asyncio.Lock()

    async def take(self) -> None:
        async with self.lock:
            while True:
                now = time.monotonic()
                self.tokens = min(max(self.rate, 1.0), self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)


class WebhookProvider:
    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        concurrency: int = 64,
        timeout_s: float = 10.0,
        rates: dict[str, float] | None = None,
    ) -> None:
        self.url = url
        self.secret = secret
        self.timeout_s = timeout_s
        self.concurrency = concurrency
        self.limits = {channel: RateLimit(rate) for channel, rate in (rates or {}).items() if rate > 0}
        self.client: httpx.AsyncClient | None = None
        self.failed_rounds = 0
        self.resume_at = 0.0
        self.requests = 0  # every POST made, for tests and benchmarks
        self.gate = asyncio.Semaphore(concurrency)  # shared by every lane of the sender

    async def start(self) -> None:
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        self.client = httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(self.timeout_s, connect=5.0))

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    def ready(self) -> bool:
        """False while backing off a failing gateway."""
        return time.monotonic() >= self.resume_at

    def batch_size(self, default: int) -> int:
        """How many messages a round should claim: one while recovering from a failing gateway (a
        probe: claiming more would turn every due attempt into messages that then wait, instead of
        letting them merge), and no more than the rate limit lets out in about 5 s."""
        if self.failed_rounds:
            return 1
        if not self.limits:
            return default
        return max(1, min(default, int(min(limit.rate for limit in self.limits.values()) * 5)))

    async def send(self, messages: list[Outgoing]) -> list[Outcome]:
        if self.client is None:
            await self.start()
        if not self.ready():
            return [Outcome(m.message_id, False, "gateway backing off") for m in messages]
        outcomes: list[Outcome] = []
        rest = messages
        if self.failed_rounds and messages:  # recovering: one probe before the rest
            probe = await self._post(messages[0])
            outcomes.append(probe)
            rest = messages[1:]
            if not probe.accepted:
                outcomes += [Outcome(m.message_id, False, "gateway still failing") for m in rest]
                self._back_off()
                return outcomes

        async def one(message: Outgoing) -> Outcome:
            async with self.gate:
                return await self._post(message)

        outcomes += await asyncio.gather(*(one(message) for message in rest))
        if messages and not any(outcome.accepted for outcome in outcomes):
            self._back_off()
        elif self.failed_rounds:
            log.warning("gateway %s accepts messages again", self.url)
            self.failed_rounds = 0
            GATEWAY_BACKOFF.set(0)
        return outcomes

    def _back_off(self) -> None:
        self.failed_rounds += 1
        pause = backoff_s(self.failed_rounds)
        self.resume_at = time.monotonic() + pause
        GATEWAY_BACKOFF.set(pause)
        log.warning("gateway %s accepted nothing (%d rounds); backing off %.1f s", self.url, self.failed_rounds, pause)

    async def _post(self, message: Outgoing) -> Outcome:
        limit = self.limits.get(message.channel)
        if limit is not None:
            await limit.take()
        body = orjson.dumps(
            {
                "message_id": message.message_id,
                "call_id": message.call_id,
                "warning_id": message.warning_id,
                "kind": message.kind,
                "channel": message.channel,
                "to": message.to,
                "text": message.text,
                "ack_url": message.ack_url,
                "level": message.level,
            }
        )
        assert self.client is not None
        self.requests += 1
        try:
            response = await self.client.post(self.url, content=body, headers=signed_headers(self.secret, body))
        except httpx.TimeoutException:
            GATEWAY_ERRORS.labels("timeout").inc()
            return Outcome(message.message_id, False, "gateway timed out")
        except httpx.HTTPError as error:
            GATEWAY_ERRORS.labels("connection").inc()
            return Outcome(message.message_id, False, f"gateway unreachable: {type(error).__name__}")
        if response.is_success:
            return Outcome(message.message_id, True)
        GATEWAY_ERRORS.labels(f"http_{response.status_code // 100}xx").inc()
        return Outcome(message.message_id, False, f"gateway answered {response.status_code}: {response.text[:200]}")
