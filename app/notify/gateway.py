"""What a gateway tells us of the messages it took: delivery receipts (replies from phones are
`ack.replies`)."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.call import db as call_db
from app.call import service as call_service
from app.db import among, chunks, session_scope
from app.errors import NotFound
from app.groups import GroupCommit
from app.models.call import Call
from app.models.contact import Contact
from app.models.notify import GatewayRef, Message
from app.notify.metrics import MESSAGES


@dataclass
class Receipt:
    message_id: str
    status: str  # delivered | failed
    error: str | None = None
    provider: str | None = None  # the provider it came from, recorded where the message has none


@dataclass
class Settled:
    """Receipts applied to their messages' rows: which changed a row, and the others' statuses."""

    changed: dict[int, Any]  # receipt's index -> the message row it changed
    statuses: list[str | None]  # each receipt's message status after it (None: no such message)
    regions: dict[str, str] = field(default_factory=dict)  # contact id -> region, for messages outside calls

    def failed_calls(self, receipts: list[Receipt]) -> list[str]:
        """Calls whose ladder a failure brings forward (notices, attempt 0, have none)."""
        return sorted(
            {row.call_id for i, row in self.changed.items() if receipts[i].status == "failed" and row.attempt > 0}
        )

    def events(self, receipts: list[Receipt]) -> list[audit_service.Event]:
        events = []
        for index, row in sorted(self.changed.items()):
            receipt = receipts[index]
            MESSAGES.labels(row.provider or "unknown", row.channel, receipt.status).inc()
            events.append(audit_service.Event(
                type=f"message.{receipt.status}", actor="gateway", warning_id=row.warning_id, hazard_id=row.hazard_id,
                call_id=row.call_id, region_code=self.regions.get(row.contact_id or ""),
                data={"message_id": receipt.message_id, "channel": row.channel, "attempt": row.attempt,
                      "error": receipt.error, "provider": row.provider,
                      **({"contact_id": row.contact_id} if row.contact_id else {})},
            ))  # fmt: skip
        return events


async def settle_messages(session: AsyncSession, receipts: list[Receipt], *, now: datetime) -> Settled:
    """Each receipt's message becomes delivered or failed, once, in message id order; a second
    receipt for one message in the same batch changes nothing."""
    changed: dict[int, Any] = {}
    done: set[str] = set()
    for index in sorted(range(len(receipts)), key=lambda i: receipts[i].message_id):
        receipt = receipts[index]
        if receipt.message_id in done:
            continue
        done.add(receipt.message_id)
        # Pending too: a message the gateway took although its answer timed out waits for a
        # resend, which its receipt makes unnecessary.
        row = (
            await session.execute(
                update(Message)
                .where(Message.id == receipt.message_id, Message.status.in_(("pending", "sending", "sent")))
                .values(status=receipt.status, receipt_at=now, error=receipt.error,
                        provider=func.coalesce(Message.provider, receipt.provider))
                .returning(Message.id, Message.call_id, Message.warning_id, Message.hazard_id, Message.contact_id,
                           Message.channel, Message.attempt, Message.provider)
            )
        ).one_or_none()  # fmt: skip
        if row is not None:
            changed[index] = row
    others = sorted({r.message_id for i, r in enumerate(receipts) if i not in changed})
    current: dict[str, str] = {}
    for chunk in chunks(others):
        found = await session.execute(select(Message.id, Message.status).where(among(Message.id, chunk)))
        current.update(found.tuples().all())
    statuses = [r.status if i in changed else current.get(r.message_id) for i, r in enumerate(receipts)]
    contact_ids = sorted({row.contact_id for row in changed.values() if row.contact_id})
    regions = dict((await session.execute(
        select(Contact.id, Contact.region_code).where(Contact.id.in_(contact_ids))
    )).tuples().all()) if contact_ids else {}  # fmt: skip
    return Settled(changed, statuses, regions)


async def record_receipts(session: AsyncSession, receipts: list[Receipt], *, now: datetime) -> list[str | None]:
    """Delivery receipts: each message becomes delivered or failed (once); a failure brings its
    call's next attempt forward. Returns each message's status, None for an id nobody sent.

    Locks go messages (in id order), calls (in id order), chain heads (in warning order), as the
    sender's record does, so a batch of receipts and a sending round never deadlock."""
    settled = await settle_messages(session, receipts, now=now)
    failed = settled.failed_calls(receipts)
    if failed:
        await call_db.lock_calls(session, Call.id.in_(failed))
    retried = await call_service.bring_attempts_forward(session, failed, reason="delivery failed", now=now)
    await audit_service.record_warning_events(session, settled.events(receipts) + retried, now=now)
    return settled.statuses


async def _record_group(session: AsyncSession, receipts: list[Receipt], now: datetime) -> list[str | None]:
    return await record_receipts(session, receipts, now=now)


def receipt_groups() -> GroupCommit[Receipt, str | None]:
    """Receipts of one process, recorded in groups (app.groups): a gateway reports on every message
    it took, each report on the warning's chain, and one transaction per report would queue them
    all behind that chain's head."""
    return GroupCommit("receipts", _record_group, batch=500, window_s=0.005)


async def record_receipt(
    session: AsyncSession,
    message_id: str,
    status: str,
    error: str | None,
    *,
    now: datetime,
    provider: str | None = None,
) -> str:
    """One delivery receipt (see record_receipts); 404 for an id nobody sent."""
    (result,) = await record_receipts(session, [Receipt(message_id, status, error, provider)], now=now)
    if result is None:
        raise NotFound(f"No message has id {message_id!r}.")
    return result


async def refs(provider: str, refs: set[str]) -> list[GatewayRef]:
    """The messages a provider's own references name (Aliyun's BizId, CallId), in a read of their own."""
    async with session_scope(read_only=True) as session:
        return list(
            await session.scalars(select(GatewayRef).where(GatewayRef.provider == provider, GatewayRef.ref.in_(refs)))
        )
