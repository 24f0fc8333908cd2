"""Writing audit events: each one hash-chained to the previous event of its chain."""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.models import AuditEvent, ChainHead
from app.db import utc_now

GENESIS_HASH = "0" * 64
# Roster, region, policy and key changes share one chain; each warning will chain its own events.
REGISTRY_CHAIN = "registry"


@dataclass
class Event:
    """An event not yet written."""

    type: str
    actor: str
    data: dict[str, Any] = field(default_factory=dict)
    warning_id: str | None = None
    call_id: str | None = None
    region_code: str | None = None


def canonical(chain: str, at: datetime, event: Event) -> bytes:
    """The bytes an event's hash covers: sorted-key compact JSON, times in UTC to the microsecond."""
    document = {
        "at": at.isoformat(timespec="microseconds"),
        "type": event.type,
        "chain": chain,
        "warning_id": event.warning_id,
        "call_id": event.call_id,
        "region_code": event.region_code,
        "actor": event.actor,
        "data": event.data,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, body: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + body).hexdigest()


async def _lock_chain_head(session: AsyncSession, chain: str) -> ChainHead:
    """The chain's head row, locked until commit, so concurrent writers queue instead of forking."""
    dialect_insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    await session.execute(
        dialect_insert(ChainHead)
        .values(chain=chain, hash=GENESIS_HASH, length=0)
        .on_conflict_do_nothing(index_elements=["chain"])
    )
    head = await session.scalar(
        select(ChainHead)
        .where(ChainHead.chain == chain)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert head is not None
    return head


async def record_events(
    session: AsyncSession, events: list[Event], *, chain: str = REGISTRY_CHAIN, now: datetime | None = None
) -> None:
    """Append events to a chain in the caller's transaction."""
    if not events:
        return
    at = now or utc_now()
    head = await _lock_chain_head(session, chain)
    prev_hash = head.hash
    rows = []
    for event in events:
        digest = chain_hash(prev_hash, canonical(chain, at, event))
        rows.append(
            {
                "at": at,
                "type": event.type,
                "chain": chain,
                "warning_id": event.warning_id,
                "call_id": event.call_id,
                "region_code": event.region_code,
                "actor": event.actor,
                "data": event.data,
                "hash": digest,
                "prev_hash": prev_hash,
            }
        )
        prev_hash = digest
    for start in range(0, len(rows), 5000):
        await session.execute(insert(AuditEvent), rows[start : start + 5000])
    head.hash = prev_hash
    head.length += len(rows)


async def record_event(session: AsyncSession, event: Event, *, chain: str = REGISTRY_CHAIN) -> None:
    """Append one event to a chain in the caller's transaction."""
    await record_events(session, [event], chain=chain)
