"""Writing audit events: each one hash-chained to the previous event of its chain."""

import hashlib
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import orjson
from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import logs
from app.audit import db as audit_db
from app.bulk import bulk_insert
from app.db import core_rows, utc_now
from app.models.audit import AuditEvent, ChainHead

GENESIS_HASH = "0" * 64
# Roster, region, policy and key changes share one chain; each warning chains its own events (its
# calls', messages', answers' and feedback's too), so warnings never wait on each other's writers.
REGISTRY_CHAIN = "registry"


def warning_chain(warning_id: str) -> str:
    """The chain a warning's events hang on."""
    return f"warning:{warning_id}"


def hazard_chain(hazard_id: str) -> str:
    """The chain a hazard report's events hang on (its calls' and messages' too)."""
    return f"hazard:{hazard_id}"


@dataclass
class Event:
    """An event not yet written."""

    type: str
    actor: str
    data: dict[str, Any] = field(default_factory=dict)
    warning_id: str | None = None
    call_id: str | None = None
    region_code: str | None = None
    request_id: str | None = None
    hazard_id: str | None = None

    @property
    def subject_chain(self) -> str | None:
        """The chain of the warning or hazard report the event is about, if any."""
        if self.warning_id is not None:
            return warning_chain(self.warning_id)
        return hazard_chain(self.hazard_id) if self.hazard_id is not None else None


def canonical(chain: str, at: datetime | str, event: Event) -> bytes:
    """The bytes an event's hash covers: sorted-key compact UTF-8 JSON, times in UTC to the microsecond."""
    document = {
        "at": at if isinstance(at, str) else at.isoformat(timespec="microseconds"),
        "type": event.type,
        "chain": chain,
        "warning_id": event.warning_id,
        "call_id": event.call_id,
        "region_code": event.region_code,
        "actor": event.actor,
        "data": event.data,
    }
    if event.request_id is not None:  # events from before request ids were kept hash without the key
        document["request_id"] = event.request_id
    if event.hazard_id is not None:  # as do events about no hazard report
        document["hazard_id"] = event.hazard_id
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def chain_hash(prev_hash: str, body: bytes) -> str:
    """SHA-256 over the previous event's hash and this event's canonical bytes."""
    return hashlib.sha256(prev_hash.encode() + b"\n" + body).hexdigest()


_heads = cast(Table, ChainHead.__table__)
# Built once: every group of answers moves a head.
_MOVE_HEAD = (
    update(_heads)
    .where(_heads.c.chain == bindparam("head"))
    .values(hash=bindparam("moved_to"), length=bindparam("new_length"), updated_at=bindparam("at"))
)


class Chain:
    """Events appended to one chain in the caller's transaction: each is hashed as it is added, and
    `write` stores them all and moves the head. A fan-out adds its calls' events while their own
    rows stream to the database, so the hashing overlaps the database's work (see warning.fanout)."""

    def __init__(self, name: str, head: tuple[str, int], at: datetime) -> None:
        self.name = name
        self.last_hash, self.length = head
        self.at = at
        self.stamp = at.isoformat(timespec="microseconds")
        self.request_id = logs.request_id.get()
        self.rows: list[dict[str, Any]] = []

    def add(self, event: Event) -> None:
        """Hash the event now; it is stored by `write`."""
        self.rows.append(self._row(event))

    def _row(self, event: Event) -> dict[str, Any]:
        # A warning's (or report's) events hang on its own chain and nowhere else (its timeline reads the chain).
        assert event.subject_chain in (None, self.name), (event.type, self.name)
        if event.request_id is None:
            event.request_id = self.request_id
        digest = chain_hash(self.last_hash, canonical(self.name, self.stamp, event))
        row = {
            "at": self.at, "type": event.type, "chain": self.name, "warning_id": event.warning_id,
            "call_id": event.call_id, "hazard_id": event.hazard_id, "region_code": event.region_code,
            "actor": event.actor, "data": event.data,
            "hash": digest, "prev_hash": self.last_hash, "request_id": event.request_id,
        }  # fmt: skip
        self.last_hash = digest
        self.length += 1
        return row

    async def write(self, session: AsyncSession, more: Iterable[Event] = ()) -> None:
        """Store the events added, then `more`, hashed while the COPY streams the ones before (see
        bulk.bulk_insert), and move the head."""
        before = self.length - len(self.rows)
        await bulk_insert(session, AuditEvent, itertools.chain(self.rows, map(self._row, more)))
        self.rows = []
        if self.length == before:
            return
        moved = {"head": self.name, "moved_to": self.last_hash, "new_length": self.length, "at": self.at}
        await core_rows(session, _MOVE_HEAD, moved)


async def open_chain(session: AsyncSession, chain: str = REGISTRY_CHAIN, *, now: datetime | None = None) -> Chain:
    """A chain to append to, its head locked until the caller's transaction ends."""
    return Chain(chain, await audit_db.lock_chain_head(session, chain, GENESIS_HASH), now or utc_now())


async def record_events(
    session: AsyncSession, events: list[Event], *, chain: str = REGISTRY_CHAIN, now: datetime | None = None
) -> None:
    """Append events to a chain in the caller's transaction."""
    if not events:
        return
    writer = await open_chain(session, chain, now=now)
    await writer.write(session, events)


async def record_warning_events(session: AsyncSession, events: list[Event], *, now: datetime) -> None:
    """Append events of any number of warnings and hazard reports, each to its own chain (the
    registry's for events about neither), the chains locked in one order (by name, the registry's
    last as everywhere) so that writers touching several cannot deadlock."""
    by_chain: dict[str, list[Event]] = {}
    for event in events:
        # A message outside any call (a contact's report link) is the registry's.
        by_chain.setdefault(event.subject_chain or REGISTRY_CHAIN, []).append(event)
    for chain in sorted(by_chain, key=lambda name: (name == REGISTRY_CHAIN, name)):
        await record_events(session, by_chain[chain], chain=chain, now=now)


async def record_event(
    session: AsyncSession, event: Event, *, chain: str = REGISTRY_CHAIN, now: datetime | None = None
) -> None:
    """Append one event to a chain in the caller's transaction."""
    await record_events(session, [event], chain=chain, now=now)


@dataclass
class Verification:
    ok: bool
    checked: int
    first_bad_seq: int | None
    anchors_checked: int = 0
    warning: str | None = None


@dataclass
class _Walk:
    """One chain walked from its start."""

    chain: str
    # The chain's heads published outside the database (audit.anchors): hash by length.
    anchor: dict[int, str] = field(default_factory=dict)
    prev_hash: str = GENESIS_HASH
    length: int = 0
    last_seq: int = 0
    first_bad: int | None = None
    # The first event after the last published head the chain still matches (from its start until
    # one matches): where a chain recomputed wholesale can be known to differ from at the earliest.
    unvouched_from: int | None = None

    def step(self, event: Any) -> None:
        self.length += 1
        self.last_seq = event.seq
        if self.unvouched_from is None:
            self.unvouched_from = event.seq
        if self.first_bad is None:
            content = Event(type=event.type, actor=event.actor, data=event.data, warning_id=event.warning_id,
                            call_id=event.call_id, region_code=event.region_code,
                            request_id=event.request_id, hazard_id=event.hazard_id)  # fmt: skip
            expected = chain_hash(self.prev_hash, canonical(self.chain, event.at, content))
            published = self.anchor.get(self.length)
            if event.prev_hash != self.prev_hash or event.hash != expected:
                self.first_bad = event.seq
            elif published is not None and published != event.hash:
                # The chain holds together but differs from what was published: recomputed from
                # somewhere after the last head it still matches, and at or before this event.
                self.first_bad = self.unvouched_from
            elif published is not None:
                self.unvouched_from = None  # vouched for up to here: the next event starts the unknown
        self.prev_hash = event.hash

    def end(self, head: ChainHead | None) -> int | None:
        """The first bad event; the last one when the chain stops short of its head or of its
        published head (a deleted tail)."""
        if self.first_bad is not None:
            return self.first_bad
        if head is None or head.hash != self.prev_hash or head.length != self.length:
            return self.last_seq
        if self.anchor and max(self.anchor) > self.length:
            # Shorter than it was published: cut and rehashed after the last head it still matches.
            return self.unvouched_from or self.last_seq
        return None


async def verify(session: AsyncSession, anchors: dict[str, dict[int, str]] | None = None) -> Verification:
    """Walk every chain from its start: each event's hash recomputed from its content and the hash
    before it, each chain's end matched against its head, and, given the heads published outside
    the database (`anchors`, see audit.anchors), each chain matched against its latest one. An
    edited, inserted or deleted event breaks its chain there; a chain recomputed wholesale differs
    from its anchor. The first bad event (lowest seq) is named, 0 when a whole chain is gone.

    Streams the events in (chain, seq) order, the index's, so memory stays flat however long the
    record is."""
    anchors = dict(anchors or {})
    heads = {head.chain: head for head in await session.scalars(select(ChainHead))}
    checked, bad, anchored = 0, [], 0
    walk: _Walk | None = None
    async for event in audit_db.events_in_chain_order(session):
        if walk is None or event.chain != walk.chain:
            if walk is not None:
                bad.append(walk.end(heads.pop(walk.chain, None)))
            walk = _Walk(event.chain, anchor=anchors.pop(event.chain, {}))
            anchored += bool(walk.anchor)
        walk.step(event)
        checked += 1
    if walk is not None:
        bad.append(walk.end(heads.pop(walk.chain, None)))
    if heads or anchors:  # chains with a head, or published, and no events left at all
        bad.append(0)
    found = [seq for seq in bad if seq is not None]
    first_bad = min(found) if found else None
    return Verification(ok=not found, checked=checked, first_bad_seq=first_bad, anchors_checked=anchored)
