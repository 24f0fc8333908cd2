"""Providers hand messages to the phone network. `console` keeps them for the dev outbox."""

from dataclasses import dataclass
from typing import Protocol

from app.config import Settings
from app.db import bulk_insert, session_scope, utc_now
from app.notify.models import ConsoleMessage


@dataclass
class Outgoing:
    """A message as a provider receives it (the webhook's JSON body has these fields)."""

    message_id: str
    call_id: str
    warning_id: str
    kind: str
    channel: str
    to: str
    text: str
    ack_url: str | None
    level: str
    attempt: int = 1  # ours, not sent: 0 for notices outside the ladder


@dataclass
class Outcome:
    message_id: str
    accepted: bool
    error: str | None = None


class Provider(Protocol):
    name: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def ready(self) -> bool:
        """False while the provider backs off a failing gateway: the sender then waits."""
        ...

    def batch_size(self, default: int) -> int:
        """How many messages one round should claim."""
        ...

    async def send(self, messages: list[Outgoing]) -> list[Outcome]: ...


class ConsoleProvider:
    """Keeps every message in the database, for GET /api/v1/dev/outbox; a resend is a no-op."""

    name = "console"

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def ready(self) -> bool:
        return True

    def batch_size(self, default: int) -> int:
        return default

    async def send(self, messages: list[Outgoing]) -> list[Outcome]:
        now = utc_now()
        rows = [
            {
                "message_id": m.message_id,
                "call_id": m.call_id,
                "warning_id": m.warning_id,
                "kind": m.kind,
                "channel": m.channel,
                "to": m.to,
                "text": m.text,
                "ack_url": m.ack_url,
                "sent_at": now,
            }
            for m in messages
        ]
        async with session_scope() as session:
            await bulk_insert(session, ConsoleMessage, rows, skip_existing=True)
        return [Outcome(message_id=m.message_id, accepted=True) for m in messages]


def make_provider(settings: Settings) -> Provider:
    """The provider the settings name (JIAOYING_PROVIDER)."""
    if settings.provider == "console":
        return ConsoleProvider()
    from app.notify.webhook import WebhookProvider

    if not settings.webhook_url or not settings.webhook_secret:
        raise ValueError("JIAOYING_PROVIDER=webhook needs JIAOYING_WEBHOOK_URL and JIAOYING_WEBHOOK_SECRET")
    return WebhookProvider(
        settings.webhook_url,
        settings.webhook_secret,
        concurrency=settings.webhook_concurrency,
        timeout_s=settings.webhook_timeout_s,
        rates={"sms": settings.webhook_rate_sms, "voice": settings.webhook_rate_voice},
    )
