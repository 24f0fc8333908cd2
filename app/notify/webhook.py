"""The `webhook` provider: messages POSTed in batches, as signed JSON, to an SMS/voice gateway.

Body: `{"messages": [m, ...]}` with up to JIAOYING_WEBHOOK_BATCH messages (default 100); with a
batch of 1 the body is the single message `m` itself, as gateways written for the first version
of Jiaoying expect. A 2xx accepts the batch, and its JSON body may answer per message
`{"results": [{"message_id", "status": "accepted|rejected|retry", "error"?}]}`; a message the
results leave out is accepted. Anything else (an error status, a refused connection, a timeout)
leaves every message of the batch to be sent again later under the same ids, which gateways
deduplicate on; backing off a failing gateway, and failing over to the channel's next provider,
are the dispatcher's (app.notify.dispatch).

Signing, both ways: `X-Jiaoying-Timestamp: <unix seconds>` and `X-Jiaoying-Signature:
sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">` with JIAOYING_WEBHOOK_SECRET; a receiver
refuses a timestamp more than five minutes off, and compares in constant time.
"""

import hashlib
import hmac
import logging
import time
from typing import Any, ClassVar, TypeVar

import httpx
import orjson
from fastapi import Request
from prometheus_client import Counter
from pydantic import BaseModel, ValidationError

from app.channels import NAMES
from app.config import Settings
from app.errors import Unauthorized, Unprocessable
from app.notify.base import CalleeLimit, Capabilities, Outcome, OutcomeStatus, Outgoing

log = logging.getLogger(__name__)
MAX_SKEW_S = 300
GATEWAY_ERRORS = Counter(
    "jiaoying_gateway_errors_total",
    "Messages a gateway did not accept, by provider and reason.",
    ["provider", "reason"],
)
FIELDS = ("message_id", "call_id", "warning_id", "kind", "channel", "to", "text", "ack_url", "level")


def document(message: Outgoing) -> dict[str, Any]:
    """A message as the gateway receives it; one about a hazard report names it (`hazard_id`)."""
    body = {name: getattr(message, name) for name in FIELDS}
    if message.hazard_id is not None:
        body["hazard_id"] = message.hazard_id
    return body


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


def parse_callee_limits(spec: str) -> dict[str, tuple[CalleeLimit, ...]]:
    """`voice:1/60,5/3600;sms:10/3600` -> per channel, calls per seconds to one number."""
    limits: dict[str, tuple[CalleeLimit, ...]] = {}
    for part in filter(None, (part.strip() for part in spec.split(";"))):
        channel, _, rules = part.partition(":")
        if channel.strip() not in NAMES or not rules:
            raise ValueError(f"per-callee limit {part!r}: expected CHANNEL:CALLS/SECONDS[,CALLS/SECONDS...]")
        parsed = []
        for rule in rules.split(","):
            calls, _, seconds = rule.partition("/")
            try:
                limit = CalleeLimit(int(calls), float(seconds))
            except ValueError:
                limit = CalleeLimit(0, 0)
            if limit.calls < 1 or not limit.seconds > 0:
                raise ValueError(f"per-callee limit {rule!r}: expected CALLS/SECONDS, at least 1 call in some seconds")
            parsed.append(limit)
        limits[channel.strip()] = tuple(parsed)
    return limits


class WebhookProvider:
    name = "webhook"
    channels: ClassVar[frozenset[str]] = frozenset(NAMES)

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        batch: int = 100,
        in_flight: int = 8,
        timeout_s: float = 10.0,
        rates: dict[str, float] | None = None,
        per_callee: dict[str, tuple[CalleeLimit, ...]] | None = None,
    ) -> None:
        self.url = url
        self.secret = secret
        self.timeout_s = timeout_s
        self.single = batch == 1  # the first version's body: one message, not a list
        self.capabilities = Capabilities(
            channels=self.channels,
            batch_size=max(batch, 1),
            in_flight=in_flight,
            rates={channel: rate for channel, rate in (rates or {}).items() if rate > 0},
            per_callee=per_callee or {},
        )
        self.client: httpx.AsyncClient | None = None
        self.requests = 0  # every POST made, for tests and benchmarks

    @classmethod
    def from_settings(cls, settings: Settings) -> "WebhookProvider":
        if not settings.webhook_url or not settings.webhook_secret:
            raise ValueError("the webhook provider needs JIAOYING_WEBHOOK_URL and JIAOYING_WEBHOOK_SECRET")
        return cls(
            settings.webhook_url,
            settings.webhook_secret,
            batch=settings.webhook_batch,
            in_flight=settings.webhook_concurrency,
            timeout_s=settings.webhook_timeout_s,
            rates={"sms": settings.webhook_rate_sms, "voice": settings.webhook_rate_voice},
            per_callee=parse_callee_limits(settings.webhook_callee_limits),
        )

    async def start(self) -> None:
        size = self.capabilities.in_flight
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        self.client = httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(self.timeout_s, connect=5.0))

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    def body(self, batch: list[Outgoing]) -> bytes:
        documents = [document(message) for message in batch]
        if self.single:
            assert len(documents) == 1
            return orjson.dumps(documents[0])
        return orjson.dumps({"messages": documents})

    async def send(self, batch: list[Outgoing]) -> list[Outcome]:
        """POST one batch; the gateway's per-message results, or `retry` for all of it."""
        if self.client is None:
            await self.start()
        assert self.client is not None
        body = self.body(batch)
        self.requests += 1
        try:
            response = await self.client.post(self.url, content=body, headers=signed_headers(self.secret, body))
        except httpx.TimeoutException:
            return self._all_retry(batch, "timeout", "gateway timed out")
        except httpx.HTTPError as exc:
            return self._all_retry(batch, "connection", f"gateway unreachable: {type(exc).__name__}")
        if not response.is_success:
            answer = f"gateway answered {response.status_code}: {response.text[:200]}"
            return self._all_retry(batch, f"http_{response.status_code // 100}xx", answer)
        said = _results(response.content)
        outcomes = []
        for message in batch:
            status, why = said.get(message.message_id, ("accepted", None))
            if status != "accepted":
                GATEWAY_ERRORS.labels(self.name, status).inc()
            outcomes.append(Outcome(message.message_id, status, why))
        return outcomes

    def _all_retry(self, batch: list[Outgoing], reason: str, error: str) -> list[Outcome]:
        GATEWAY_ERRORS.labels(self.name, reason).inc(len(batch))
        return [Outcome(message.message_id, "retry", error, unreachable=True) for message in batch]


def _results(content: bytes) -> dict[str, tuple[OutcomeStatus, str | None]]:
    """The per-message results of a 2xx answer, by message id; what cannot be read is left out
    (a 2xx accepts the batch, and a gateway may answer with anything or nothing)."""
    try:
        document: Any = orjson.loads(content) if content else None
    except orjson.JSONDecodeError:
        return {}
    results = document.get("results") if isinstance(document, dict) else None
    if not isinstance(results, list):
        return {}
    said: dict[str, tuple[OutcomeStatus, str | None]] = {}
    for result in results:
        if not isinstance(result, dict) or not isinstance(result.get("message_id"), str):
            continue
        status = result.get("status")
        if status not in ("accepted", "rejected", "retry"):
            log.warning("gateway result %r for message %s is not accepted|rejected|retry; taken as accepted",
                        status, result["message_id"])  # fmt: skip
            continue
        error = result.get("error")
        said[result["message_id"]] = (status, str(error)[:2000] if error is not None else None)
    return said


MAX_ITEMS = 1000  # items in one array of receipts or replies
ModelT = TypeVar("ModelT", bound=BaseModel)


async def verified_body(request: Request, secret: str | None) -> bytes:
    """The raw body of a gateway's push, if signed with `secret` within five minutes; 401 otherwise
    (and always 401 while no secret is set)."""
    body = await request.body()
    timestamp = request.headers.get("x-jiaoying-timestamp")
    given = request.headers.get("x-jiaoying-signature")
    if not secret or not verify(secret, timestamp, given, body):
        raise Unauthorized("Missing, wrong or stale X-Jiaoying-Signature (HMAC-SHA256 of '<timestamp>.<body>').")
    return body


def items_of(model: type[ModelT], body: bytes) -> tuple[list[ModelT], bool]:
    """One item or a JSON array of them (at most MAX_ITEMS); whether it was an array. Any bad item
    refuses the whole body (422 naming it), so nothing of it is taken."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise Unprocessable("The request body is not valid JSON.") from None
    many = isinstance(document, list)
    if many and not 1 <= len(document) <= MAX_ITEMS:
        raise Unprocessable(f"An array must hold between 1 and {MAX_ITEMS} items; send larger batches in parts.")
    items = []
    for index, item in enumerate(document if many else [document]):
        try:
            items.append(model.model_validate(item))
        except ValidationError as exc:  # `loc` names the item of an array: ["body", 3, "status"]
            errors = [{"loc": ["body", *([index] if many else []), *e["loc"]], "msg": e["msg"]} for e in exc.errors()]
            where = f"Item {index} of the array" if many else "The request body"
            raise Unprocessable(f"{where} is not valid: {errors[0]['msg']}.", errors=errors) from None
    return items, many
