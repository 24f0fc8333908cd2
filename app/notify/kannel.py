"""The `kannel` provider: SMS through Kannel, the open-source gateway in front of carriers' SMPP, UCP
and CIMD links (Debian packages it).

Each message is one GET of smsbox's `sendsms`: the text in UTF-8 (`charset=UTF-8&coding=2`: UCS-2
on the air, as Chinese, Uyghur and Kazakh need), split by Kannel into at most two parts (the
sendsms-user's `concatenation` and `max-messages = 2`; our texts fit two), with `dlr-mask=31` and a
`dlr-url` of ours carrying the message id and Kannel's report type `%d`. Kannel answers 202 when it
has taken or queued the message; a 400 about the receiver is a number it can never send to
(refused for good); anything else (a 400 about its own set-up, a wrong password, a refused
connection, a timeout) is a gateway not taking messages (back-off, and failover to the next
provider of SMS).

Kannel takes one text per request, so many go at once, through aiohttp: measured against Kannel on
loopback, httpx sent about 200 requests/s whatever the number in flight, aiohttp about 1,500 at 32
(bench/kannel_clients.py).

Reports and replies come back to /api/v1/providers/kannel/{JIAOYING_KANNEL_SECRET}/
(app.notify.router): `dlr?id=...&type=%d` (1 delivered, 2 or 16 failed, 8 accepted by the SMSC, 4
buffered) and `mo?from=%p&text=%a&id=%I` from the catch-all sms-service.
"""

from typing import ClassVar
from urllib.parse import quote, urlencode

import aiohttp
from yarl import URL

from app.config import Settings
from app.notify.base import Capabilities, Outcome, Outgoing
from app.notify.webhook import GATEWAY_ERRORS

CALLBACKS = "/api/v1/providers/kannel"
# Kannel's report types (its dlr-mask bits): what each makes of our message.
DELIVERED, UNDELIVERED, BUFFERED, SMSC_ACCEPTED, SMSC_REJECTED = 1, 2, 4, 8, 16
REPORT_STATES = {DELIVERED: "delivered", UNDELIVERED: "failed", SMSC_REJECTED: "failed"}
REPORT_ERRORS = {
    UNDELIVERED: "not delivered to the handset (Kannel report 2)",
    SMSC_REJECTED: "rejected by the SMSC (Kannel report 16)",
}


def callback_base(public_url: str, secret: str) -> str:
    return f"{public_url.rstrip('/')}{CALLBACKS}/{quote(secret, safe='')}"


class KannelProvider:
    name = "kannel"
    channels: ClassVar[frozenset[str]] = frozenset({"sms"})

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        *,
        callbacks: str,
        sender: str | None = None,
        smsc: str | None = None,
        in_flight: int = 32,
        timeout_s: float = 10.0,
        rate: float = 0.0,
    ) -> None:
        self.url = url
        self.username = username
        self.password = password
        self.callbacks = callbacks
        self.sender = sender
        self.smsc = smsc
        self.timeout_s = timeout_s
        self.capabilities = Capabilities(
            channels=self.channels, batch_size=1, in_flight=in_flight, rates={"sms": rate} if rate > 0 else {}
        )
        self.client: aiohttp.ClientSession | None = None
        self.requests = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> "KannelProvider":
        missing = [name for name, value in (("URL", settings.kannel_url), ("USERNAME", settings.kannel_username),
                                            ("PASSWORD", settings.kannel_password), ("SECRET", settings.kannel_secret))
                   if not value]  # fmt: skip
        if missing:
            raise ValueError(f"the kannel provider needs {', '.join('JIAOYING_KANNEL_' + m for m in missing)}")
        assert settings.kannel_url and settings.kannel_username and settings.kannel_password and settings.kannel_secret
        return cls(
            settings.kannel_url,
            settings.kannel_username,
            settings.kannel_password,
            callbacks=callback_base(settings.public_url, settings.kannel_secret),
            sender=settings.kannel_from,
            smsc=settings.kannel_smsc,
            in_flight=settings.kannel_concurrency,
            timeout_s=settings.kannel_timeout_s,
            rate=settings.kannel_rate,
        )

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.capabilities.in_flight)
        timeout = aiohttp.ClientTimeout(total=self.timeout_s, connect=5.0)
        self.client = aiohttp.ClientSession(connector=connector, timeout=timeout)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None

    def query(self, message: Outgoing) -> dict[str, str]:
        """The sendsms parameters of one message."""
        params = {
            "username": self.username,
            "password": self.password,
            "to": message.to,
            "text": message.text,
            "charset": "UTF-8",
            "coding": "2",
            "dlr-mask": "31",
            # Kannel fills in %d, the report type; the id is ours, so a report finds its message.
            "dlr-url": f"{self.callbacks}/dlr?id={message.message_id}&type=%d",
        }
        if self.sender:
            params["from"] = self.sender
        if self.smsc:
            params["smsc"] = self.smsc
        return params

    async def send(self, batch: list[Outgoing]) -> list[Outcome]:
        if self.client is None:
            await self.start()
        assert self.client is not None
        return [await self._one(message) for message in batch]

    async def _one(self, message: Outgoing) -> Outcome:
        assert self.client is not None
        self.requests += 1
        # Encoded here, once, so that nothing re-quotes the dlr-url's %d on the way.
        url = URL(f"{self.url}?{urlencode(self.query(message))}", encoded=True)
        try:
            async with self.client.get(url) as response:
                status = response.status
                said = (await response.text(errors="replace")).strip()[:200]
        except TimeoutError:
            GATEWAY_ERRORS.labels(self.name, "timeout").inc()
            return Outcome(message.message_id, "retry", "Kannel timed out", unreachable=True)
        except aiohttp.ClientError as exc:
            GATEWAY_ERRORS.labels(self.name, "connection").inc()
            return Outcome(message.message_id, "retry", f"Kannel unreachable: {type(exc).__name__}", unreachable=True)
        if 200 <= status < 300:
            return Outcome(message.message_id, "accepted")
        if status == 400 and "receiver" in said.lower():  # this number can never be sent to
            GATEWAY_ERRORS.labels(self.name, "rejected").inc()
            return Outcome(message.message_id, "rejected", f"Kannel refused it: {said}")
        # Any other refusal (no sender configured, a wrong password) is Kannel's set-up, not the
        # message's: the provider backs off, SMS fails over, and the log says what Kannel said.
        GATEWAY_ERRORS.labels(self.name, f"http_{status // 100}xx").inc()
        return Outcome(message.message_id, "retry", f"Kannel answered {status}: {said}", unreachable=True)
