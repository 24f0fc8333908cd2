"""The loudspeaker platform's receipts: a broadcast played (`delivered`) or not (`failed`), once,
on the warning's chain."""

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.broadcast.schemas import ReceiptIn
from app.models.broadcast import Broadcast


async def record(session: AsyncSession, receipts: list[ReceiptIn], *, now: datetime) -> list[str | None]:
    """Each receipt's broadcast status after it (None: no such broadcast); in id order, so two
    batches never wait on each other round a ring."""
    changed: dict[str, Broadcast] = {}
    for receipt in sorted(receipts, key=lambda r: r.broadcast_id):
        if receipt.broadcast_id in changed:
            continue
        row = await session.scalar(
            update(Broadcast)
            # Pending too: a hand-over that timed out waits to go again, and the platform played it.
            .where(Broadcast.id == receipt.broadcast_id, Broadcast.status.in_(("pending", "sending", "sent")))
            .values(status=receipt.status, receipt_at=now, error=receipt.error)
            .returning(Broadcast)
        )
        if row is not None:
            changed[row.id] = row
    events = [
        audit_service.Event(
            type=f"broadcast.{row.status}", actor="loudspeaker platform", warning_id=row.warning_id,
            region_code=row.region_code,
            data={"broadcast_id": row.id, "kind": row.kind, **({"error": row.error} if row.error else {})},
        )
        for row in changed.values()
    ]  # fmt: skip
    await audit_service.record_warning_events(session, events, now=now)
    ids = {receipt.broadcast_id for receipt in receipts}
    statuses = dict(
        (await session.execute(select(Broadcast.id, Broadcast.status).where(Broadcast.id.in_(ids)))).tuples().all()
    )
    return [statuses.get(receipt.broadcast_id) for receipt in receipts]
