"""Registry changes chain together: each event's prev_hash is the previous event's hash."""

import asyncio
import itertools

from httpx import AsyncClient
from sqlalchemy import select

from app.audit.service import GENESIS_HASH, Event, canonical, chain_hash
from app.db import session_scope
from app.models.audit import AuditEvent, ChainHead
from tests.factories import create_contact


async def _chain() -> list[AuditEvent]:
    async with session_scope() as session:
        return list(
            await session.scalars(select(AuditEvent).where(AuditEvent.chain == "registry").order_by(AuditEvent.seq))
        )


def _recompute(event: AuditEvent) -> str:
    body = Event(
        event.type, event.actor, event.data, event.warning_id, event.call_id, event.region_code, event.request_id
    )
    return chain_hash(event.prev_hash, canonical(event.chain, event.at, body))


async def test_concurrent_writers_never_fork_the_chain(client: AsyncClient, regions: None) -> None:
    await asyncio.gather(*(create_contact(client) for _ in range(12)))
    events = await _chain()
    assert len(events) == 13  # the import and twelve contacts
    assert events[0].prev_hash == GENESIS_HASH
    for previous, event in itertools.pairwise(events):
        assert event.prev_hash == previous.hash
    assert all(_recompute(event) == event.hash for event in events)
    # Each contact's event names the request that wrote it; the import's too.
    assert all(event.request_id for event in events) and len({event.request_id for event in events}) == 13
    async with session_scope() as session:
        head = await session.get(ChainHead, "registry")
    assert head is not None and head.hash == events[-1].hash and head.length == 13


async def test_an_edited_event_no_longer_matches_its_hash(client: AsyncClient, regions: None) -> None:
    await create_contact(client)
    async with session_scope() as session:
        event = (await session.scalars(select(AuditEvent).where(AuditEvent.type == "contact.changed"))).one()
        event.data = {**event.data, "action": "deleted"}
    edited = next(e for e in await _chain() if e.type == "contact.changed")
    assert _recompute(edited) != edited.hash
