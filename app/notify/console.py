"""The `console` provider: every message kept in the database, for GET /api/v1/dev/outbox. It is
what a newcomer runs with, and what the tests and the tour read back."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.bulk import bulk_insert
from app.channels import NAMES
from app.config import Settings
from app.db import session_scope, utc_now
from app.models.notify import ConsoleMessage
from app.notify.base import Capabilities, Outcome, Outgoing


class ConsoleProvider:
    """Keeps every message in the console outbox; a resend under the same id is a no-op."""

    name = "console"
    channels = frozenset(NAMES)
    capabilities = Capabilities(channels=frozenset(NAMES), batch_size=1000, in_flight=1, writes_database=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> "ConsoleProvider":
        return cls()

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def send(self, batch: list[Outgoing]) -> list[Outcome]:
        now = utc_now()
        rows = [
            {
                "message_id": m.message_id,
                "call_id": m.call_id,
                "warning_id": m.warning_id,
                "hazard_id": m.hazard_id,
                "kind": m.kind,
                "channel": m.channel,
                "to": m.to,
                "text": m.text,
                "ack_url": m.ack_url,
                "sent_at": now,
            }
            for m in batch
        ]
        async with session_scope() as session:
            await bulk_insert(session, ConsoleMessage, rows, skip_existing=True)
        return [Outcome(m.message_id, "accepted") for m in batch]


async def outbox(
    session: AsyncSession, *, warning_id: str | None, before: int | None, limit: int
) -> list[ConsoleMessage]:
    """Messages the console provider was handed, newest first (of one warning, before a cursor)."""
    query = select(ConsoleMessage).order_by(ConsoleMessage.seq.desc()).limit(limit)
    if warning_id is not None:
        query = query.where(ConsoleMessage.warning_id == warning_id)
    if before is not None:
        query = query.where(ConsoleMessage.seq < before)
    return list(await session.scalars(query))
