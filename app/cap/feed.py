"""Polling Atom and RSS feeds of CAP alerts, as national alert hubs publish them.

Each poll reads every feed in JIAOYING_CAP_FEEDS, fetches the alerts of entries not yet taken (an
entry's link, or an alert carried inside the entry), and takes them in order of their `sent` time,
so an Alert comes before its Update even when the feed lists newest first. Fetching happens
outside any transaction; each entry is then claimed and taken in one transaction, so with several
processes polling the same feeds every entry is taken once. Messages out of order are settled by
cap.service (an Update whose alert never came is a new warning; an alert after its Update changes
nothing). An entry that is refused (not CAP, an area not ours) is recorded as refused and not
fetched again; a feed or an alert that cannot be fetched, or comes as no XML (an error page), is
logged, counted in `jiaoying_cap_feed_errors_total` and tried again at the next poll. Nothing here
stops the scheduler.
"""

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from lxml import etree
from prometheus_client import Counter
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import Principal
from app.cap import parse, xsd
from app.cap import service as cap_service
from app.cap.identity import Sender
from app.cap.safe_xml import NotXml, safe_xml
from app.db import chunks, dialect_insert, session_scope
from app.errors import AppError
from app.models.cap import CapFeedEntry
from app.notify.base import Plan

log = logging.getLogger(__name__)

FEED_ERRORS = Counter("jiaoying_cap_feed_errors_total", "CAP feed polls and alert fetches that failed", ["feed"])
FEED_ENTRIES = Counter("jiaoying_cap_feed_entries_total", "CAP feed entries taken, by outcome", ["outcome"])
FEED_MAX_BYTES = 10_000_000
FETCH_TIMEOUT_S = 15.0
# New entries fetched per feed and poll: a hub's backlog arrives over several polls, not in one burst.
MAX_ENTRIES_PER_POLL = 50


class FeedError(Exception):
    """A feed or an alert that could not be fetched or read; tried again at the next poll."""


@dataclass
class Entry:
    entry_id: str
    link: str | None
    inline: bytes | None  # an alert carried inside the entry

    def key(self, feed_url: str) -> str:
        return hashlib.sha256(f"{feed_url}\n{self.entry_id}".encode()).hexdigest()


def feed_label(url: str) -> str:
    """A feed's URL as logs and metrics show it: without credentials or query (tokens live there)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"


def feed_principal(url: str) -> Principal:
    """Who acts for a feed: the operator configured it, so it may warn anywhere."""
    return Principal(name=f"CAP feed {urlsplit(url).hostname or url}"[:100], role="admin")


async def fetch(client: httpx.AsyncClient, url: str, *, max_bytes: int) -> bytes:
    """A document over HTTP(S), at most max_bytes; FeedError for anything but a complete 2xx answer."""
    try:
        async with client.stream("GET", url) as response:
            if not response.is_success:
                raise FeedError(f"HTTP {response.status_code} from {feed_label(url)}")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise FeedError(f"{feed_label(url)} is larger than {max_bytes:,} bytes")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise FeedError(f"{feed_label(url)}: {exc.__class__.__name__}: {exc}") from None
    return b"".join(chunks)


def _local(element: Any) -> str:
    return str(etree.QName(element).localname) if isinstance(element.tag, str) else ""


def _child_text(element: Any, name: str) -> str | None:
    for child in element:
        if _local(child) == name and child.text and child.text.strip():
            return str(child.text.strip())
    return None


def _link(element: Any) -> str | None:
    """The entry's link to its alert: one typed as CAP first, then as XML, then the alternate link, then any."""
    links = []
    for child in element:
        if _local(child) == "link":
            href = child.get("href") or (child.text or "").strip()
            links.append((child.get("type") or "", child.get("rel") or "alternate", href))
        elif _local(child) == "enclosure" and child.get("url"):
            links.append((child.get("type") or "", "enclosure", child.get("url")))
    links = [link for link in links if link[2]]
    for wanted in (lambda t, r: "cap" in t, lambda t, r: "xml" in t, lambda t, r: r == "alternate", lambda t, r: True):
        for type_, rel, href in links:
            if wanted(type_, rel):
                return str(href)
    return None


def entries_of(feed_url: str, body: bytes) -> list[Entry]:
    """The entries of an Atom or RSS feed, in the feed's order."""
    try:
        root = safe_xml(body, max_bytes=FEED_MAX_BYTES, what="The feed")
    except AppError as exc:
        raise FeedError(exc.detail) from None
    if _local(root) not in ("feed", "rss", "RDF"):
        raise FeedError(f"{feed_label(feed_url)} is neither an Atom nor an RSS feed (root <{_local(root)}>)")
    entries = []
    for element in root.iter():
        if _local(element) not in ("entry", "item"):
            continue
        alert = element.find(f".//{{{xsd.CAP_NS}}}alert")
        inline = etree.tostring(alert) if alert is not None else None
        link = _link(element)
        link = urljoin(feed_url, link) if link else None
        entry_id = _child_text(element, "id") or _child_text(element, "guid") or link
        if entry_id and (link or inline):
            entries.append(Entry(entry_id=entry_id, link=link, inline=inline))
    return entries


async def _unseen(feed_url: str, entries: list[Entry]) -> list[Entry]:
    keys = {entry.key(feed_url): entry for entry in entries}
    seen: set[str] = set()
    async with session_scope(read_only=True) as session:
        for batch in chunks(keys):
            seen.update(await session.scalars(select(CapFeedEntry.key).where(CapFeedEntry.key.in_(batch))))
    return [entry for key, entry in keys.items() if key not in seen]


async def _claim(
    session: AsyncSession, feed_url: str, entry: Entry, *, outcome: str, detail: str | None, now: datetime
) -> bool:
    """Record the entry as taken by this transaction; False if another process already has it."""
    row = {"key": entry.key(feed_url), "feed_url": feed_url, "entry_id": entry.entry_id, "outcome": outcome}
    claimed = await session.execute(
        dialect_insert(session)(CapFeedEntry)
        .values(**row, detail=detail, warning_id=None, taken_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(CapFeedEntry.key)
    )
    return claimed.scalar() is not None


async def _refuse(feed_url: str, entry: Entry, detail: str, *, now: datetime) -> None:
    log.info("CAP feed %s: entry %s refused: %s", feed_label(feed_url), entry.entry_id, detail)
    async with session_scope() as session:
        await _claim(session, feed_url, entry, outcome="refused", detail=detail, now=now)
    FEED_ENTRIES.labels("refused").inc()


async def _take(
    feed_url: str, entry: Entry, message: parse.Message, *, sender: Sender, fanout_above: int, plan: Plan, now: datetime
) -> bool:
    """Claim an entry and act on its alert in one transaction; True when a warning was issued or changed."""
    try:
        async with session_scope() as session:
            if not await _claim(session, feed_url, entry, outcome="taking", detail=None, now=now):
                return False  # another process took it
            warnings, outcome = await cap_service.receive_alert(
                session,
                message,
                sender=sender,
                principal=feed_principal(feed_url),
                now=now,
                fanout_above=fanout_above,
                plan=plan,
            )
            await session.execute(
                update(CapFeedEntry)
                .where(CapFeedEntry.key == entry.key(feed_url))
                .values(outcome=outcome, warning_id=warnings[0].id if warnings else None)
            )
    except AppError as exc:
        await _refuse(feed_url, entry, exc.detail, now=now)
        return False
    shown = f"warnings {', '.join(w.id for w in warnings)}" if warnings else "no warning"
    log.info("CAP feed %s: entry %s %s, %s", feed_label(feed_url), entry.entry_id, outcome, shown)
    FEED_ENTRIES.labels(outcome).inc()
    return outcome in ("created", "updated", "cancelled")


def _failed(feed_url: str, what: str, exc: Exception) -> None:
    log.warning("CAP feed %s: %s failed, trying again at the next poll: %s", feed_label(feed_url), what, exc)
    FEED_ERRORS.labels(feed_label(feed_url)).inc()


async def poll_feed(
    client: httpx.AsyncClient,
    feed_url: str,
    *,
    sender: Sender,
    max_bytes: int,
    fanout_above: int,
    plan: Plan,
    now: datetime,
) -> int:
    """Take the feed's new entries; returns how many issued or changed a warning. Never raises.
    An alert whose fan-out is above `fanout_above` calls is expanded in steps, as issuing is."""
    try:
        return await _poll(
            client, feed_url, sender=sender, max_bytes=max_bytes, fanout_above=fanout_above, plan=plan, now=now
        )
    except Exception as exc:  # the database, most likely: what was not taken comes back next poll
        _failed(feed_url, "polling", exc)
        return 0


async def _poll(
    client: httpx.AsyncClient,
    feed_url: str,
    *,
    sender: Sender,
    max_bytes: int,
    fanout_above: int,
    plan: Plan,
    now: datetime,
) -> int:
    try:
        entries = entries_of(feed_url, await fetch(client, feed_url, max_bytes=FEED_MAX_BYTES))
    except FeedError as exc:
        _failed(feed_url, "reading the feed", exc)
        return 0
    # Feeds list newest first: the oldest unseen entries go first, and sent time orders them below.
    fresh = list(reversed(await _unseen(feed_url, entries)))[:MAX_ENTRIES_PER_POLL]
    messages: list[tuple[Entry, parse.Message]] = []
    for entry in fresh:
        try:
            body = entry.inline or await fetch(client, entry.link or "", max_bytes=max_bytes)
        except FeedError as exc:
            _failed(feed_url, f"fetching entry {entry.entry_id}", exc)
            continue
        try:
            messages.append((entry, parse.read_alert(body, max_bytes=max_bytes)))
        except NotXml as exc:  # an error page or a cut download in its place: asked again next poll
            _failed(feed_url, f"reading entry {entry.entry_id}", exc)
        except AppError as exc:
            await _refuse(feed_url, entry, exc.detail, now=now)
    changed = 0
    for entry, message in sorted(messages, key=lambda pair: pair[1].sent):
        changed += await _take(feed_url, entry, message, sender=sender, fanout_above=fanout_above, plan=plan, now=now)
    return changed


async def poll_feeds(
    feed_urls: list[str], *, sender: Sender, max_bytes: int, fanout_above: int, plan: Plan, now: datetime
) -> int:
    """Poll every feed side by side; returns how many entries issued or changed a warning."""
    headers = {"Accept": "application/atom+xml, application/rss+xml, application/cap+xml, application/xml"}
    async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_S, follow_redirects=True, headers=headers) as client:
        counts = await asyncio.gather(
            *(
                poll_feed(
                    client, url, sender=sender, max_bytes=max_bytes, fanout_above=fanout_above, plan=plan, now=now
                )
                for url in feed_urls
            )
        )
    return sum(counts)
