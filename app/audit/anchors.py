"""Chain heads published outside the database (anchors), and read back to check the record.

A hash chain shows an edit only to someone holding a hash from before it: whoever can write the
database can also recompute a whole chain and its head. So every minute the heads that moved are
appended to a file outside the database (one JSON line per publication, `{"at", "heads": {chain:
[length, hash]}}`) and logged; ship either to storage the database's writers cannot rewrite (a
log server, WORM storage). Verification then checks each chain against its latest published head:
the event at each published position must still carry its hash.
"""

import asyncio
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.audit import ChainHead

log = logging.getLogger(__name__)
# Heads that moved this long ago are still looked at: a writer stamps the head when its transaction
# starts and may commit a while later (a nationwide fan-out takes about a minute).
LOOK_BACK = timedelta(minutes=5)


@dataclass
class Publisher:
    """Appends the heads that moved since its last publication; one per process is enough."""

    path: Path
    published: dict[str, tuple[int, datetime]] = field(default_factory=dict)

    async def publish(self, session: AsyncSession, *, now: datetime) -> int:
        """Append the heads that moved and were not yet published; how many."""
        since = now - LOOK_BACK
        query = select(ChainHead.chain, ChainHead.length, ChainHead.hash, ChainHead.updated_at).where(
            ChainHead.updated_at >= since
        )
        heads: dict[str, list[int | str]] = {}
        for chain, length, hash_, moved_at in (await session.execute(query)).tuples().all():
            if self.published.get(chain, (None,))[0] != length:
                heads[chain] = [length, hash_]
                assert moved_at is not None
                self.published[chain] = (length, moved_at)
        self.published = {chain: seen for chain, seen in self.published.items() if seen[1] >= since}
        if heads:
            line = json.dumps({"at": now.isoformat(), "heads": heads}, ensure_ascii=False, separators=(",", ":"))
            await asyncio.to_thread(_append, self.path, line + "\n")
            log.info("audit anchor: %d chain heads published to %s: %s", len(heads), self.path, line)
        return len(heads)


def _append(path: Path, text: str) -> None:
    """One write with O_APPEND, flushed to disk: lines from several processes never interleave."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, text.encode())
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# Published heads of each chain: the hash of the event at each published length.
Published = dict[str, dict[int, str]]


def published_heads(path: Path | None) -> Published:
    """Every head published of each chain, read line by line. A line cut short by a crash
    mid-write is skipped. Where one length was published twice with different hashes, the first
    stands (a head rewritten inside the database and published again must not mask the original)."""
    published: Published = {}
    if path is None or not path.exists():
        return published
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            try:
                heads = {
                    chain: (int(length), str(hash_)) for chain, (length, hash_) in json.loads(line)["heads"].items()
                }
            except (ValueError, KeyError, TypeError, AttributeError):
                log.warning("audit anchors: skipping an unreadable line in %s", path)
                continue
            for chain, (length, hash_) in heads.items():
                first = published.setdefault(chain, {}).setdefault(length, hash_)
                if first != hash_:
                    log.warning("audit anchors: %s at length %d was published again with another hash", chain, length)
    return published
