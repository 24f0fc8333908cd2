"""The broadcast sender, a heartbeat job: broadcasts waiting to go are claimed (FOR UPDATE SKIP
LOCKED, so any number of processes share them), POSTed one by one to the loudspeakers' platform
(JIAOYING_BROADCAST_URL, signed as the webhook provider signs, with JIAOYING_BROADCAST_SECRET), and
recorded: `sent` (`broadcast.sent`) on a 2xx, `failed` (`broadcast.failed`) when the platform
refuses it (a 4xx other than 408 and 429), else sent again later under the same id (which the
platform dedupes), at most a minute apart. Without a platform configured, broadcasts fail at once,
on the record, saying so. A crash after the claim leaves broadcasts in `sending`; they are claimed
again after JIAOYING_SEND_RECLAIM_S."""

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
from sqlalchemy import and_, case, func, or_, select, update

from app.audit import service as audit_service
from app.config import Settings
from app.db import session_scope
from app.models.broadcast import Broadcast
from app.models.warning import OPEN_STATUSES, Warning
from app.notify.dispatch import backoff_s
from app.notify.webhook import signed_headers

BATCH = 100
IN_FLIGHT = 8  # requests to the platform at once
NOT_SET_UP = "no loudspeaker platform is configured (JIAOYING_BROADCAST_URL, JIAOYING_BROADCAST_SECRET)"


def document(broadcast: Broadcast) -> dict[str, Any]:
    """A broadcast as the platform receives it (CONTRACT: Languages and loudspeakers)."""
    return {"broadcast_id": broadcast.id, "warning_id": broadcast.warning_id, "kind": broadcast.kind,
            "region_code": broadcast.region_code, "level": broadcast.level, "texts": broadcast.texts,
            "repeat": broadcast.repeat}  # fmt: skip


async def _claim(now: datetime, reclaim_after: timedelta) -> list[Broadcast]:
    async with session_scope() as session:
        waiting = or_(
            and_(Broadcast.status == "pending", Broadcast.due_at <= now),
            and_(Broadcast.status == "sending", Broadcast.claimed_at < now - reclaim_after),
        )
        query = select(Broadcast).where(waiting).order_by(Broadcast.due_at).limit(BATCH)
        claimed = list(await session.scalars(query.with_for_update(skip_locked=True)))
        # An alert whose warning ended before it went is not played.
        ended = set(
            (await session.execute(
                select(Warning.id).where(Warning.id.in_({b.warning_id for b in claimed if b.kind == "alert"}),
                                         Warning.status.not_in(OPEN_STATUSES))
            )).scalars()
        )  # fmt: skip
        for broadcast in claimed:
            if broadcast.kind == "alert" and broadcast.warning_id in ended:
                broadcast.status, broadcast.error = "cancelled", "the warning ended before it was broadcast"
            else:
                broadcast.status, broadcast.claimed_at = "sending", now
        await session.flush()
        session.expunge_all()
    return [b for b in claimed if b.status == "sending"]


async def send_due(settings: Settings, client: httpx.AsyncClient, *, now: datetime) -> int:
    """Hand every due broadcast to the platform; returns how many it took."""
    claimed = await _claim(now, timedelta(seconds=settings.send_reclaim_s))
    at_once = asyncio.Semaphore(IN_FLIGHT)

    async def hand_over(broadcast: Broadcast) -> tuple[Broadcast, str, str | None]:
        async with at_once:
            return (broadcast, *await _hand_over(settings, client, broadcast))

    outcomes = list(await asyncio.gather(*(hand_over(broadcast) for broadcast in claimed)))
    if outcomes:
        await _record(outcomes, now)
    return sum(1 for _, status, _ in outcomes if status == "sent")


async def _hand_over(settings: Settings, client: httpx.AsyncClient, broadcast: Broadcast) -> tuple[str, str | None]:
    """(`sent` | `failed` | `retry`, error)."""
    if not settings.broadcast_url or not settings.broadcast_secret:
        return "failed", NOT_SET_UP
    body = orjson.dumps(document(broadcast))
    try:
        response = await client.post(settings.broadcast_url, content=body,
                                     headers=signed_headers(settings.broadcast_secret, body))  # fmt: skip
    except httpx.HTTPError as exc:
        return "retry", f"the loudspeaker platform is unreachable: {type(exc).__name__}"
    if response.is_success:
        return "sent", None
    said = f"the loudspeaker platform answered {response.status_code}"
    if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
        return "failed", f"{said}: {response.text[:200]}"
    return "retry", said


async def _record(outcomes: list[tuple[Broadcast, str, str | None]], now: datetime) -> None:
    events: list[audit_service.Event] = []
    async with session_scope() as session:
        for broadcast, status, error in sorted(outcomes, key=lambda outcome: outcome[0].id):
            held = (
                Broadcast.id == broadcast.id,
                Broadcast.status == "sending",
                Broadcast.claimed_at == broadcast.claimed_at,
            )
            if status == "retry":
                tries = broadcast.tries + 1
                await session.execute(update(Broadcast).where(*held).values(
                    status="pending", tries=tries, error=error, due_at=now + timedelta(seconds=backoff_s(tries))
                ))  # fmt: skip
                continue
            if status == "sent":  # its receipt may have come first: it stays delivered or failed
                taken = (Broadcast.id == broadcast.id, Broadcast.claimed_at == broadcast.claimed_at,
                         Broadcast.status.in_(("sending", "delivered", "failed")))  # fmt: skip
                values = {"status": case((Broadcast.status == "sending", "sent"), else_=Broadcast.status),
                          "sent_at": func.coalesce(Broadcast.sent_at, now)}  # fmt: skip
                changed = await session.execute(
                    update(Broadcast).where(*taken).values(**values).returning(Broadcast.id)
                )
            else:
                changed = await session.execute(
                    update(Broadcast).where(*held).values(status=status, error=error).returning(Broadcast.id)
                )
            if changed.first() is not None:
                events.append(audit_service.Event(
                    type=f"broadcast.{status}", actor="sender", warning_id=broadcast.warning_id,
                    region_code=broadcast.region_code,
                    data={"broadcast_id": broadcast.id, "kind": broadcast.kind, "languages": list(broadcast.texts),
                          "repeat": broadcast.repeat, **({"error": error} if error else {})},
                ))  # fmt: skip
        await audit_service.record_warning_events(session, events, now=now)
