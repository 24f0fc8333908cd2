"""The board, live: server-sent events carrying what changed on a warning since the page was drawn.

The stream reads the warning's counts every POLL_SECONDS in a short read-only unit of work of its
own (no session held between polls), and only when they moved reads the region states and the
silent calls shown on the page, sending just the differences. After STREAM_SECONDS it ends; the
browser's EventSource reconnects by itself, and the session (a revoked key, an expired cookie) is
checked again on the way in."""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import Principal
from app.call import tally
from app.db import SessionDep, session_scope
from app.models.call import Call
from app.models.warning import OPEN_STATUSES as OPEN_WARNING
from app.models.warning import Warning, WarningRegion
from app.warning import service as warning_service
from app.web import service as web_service
from app.web.render import CALL_STATUS, PageRoute, status_name
from app.web.session import PagePrincipal

router = APIRouter(route_class=PageRoute, include_in_schema=False)  # under /console (app.web.router)
POLL_SECONDS = 2.0
BUSY_SHARE_INVERSE = 4  # wait four times as long as a round took
STREAM_SECONDS = 300.0
KEEPALIVE_SECONDS = 15.0
STATES = ("reached", "waiting", "escalated", "uncovered", "unreachable")


async def summary(session: AsyncSession, warning: Warning) -> dict[str, Any]:
    """The board's numbers, flat (the page shows each in the element whose data-live names it)."""
    counts: dict[str, Any] = {f"regions.{state}": 0 for state in STATES}
    for region_group in await tally.regions(session, warning.id):
        key = f"regions.{web_service.cell_state(region_group.state, region_group.escalated)}"
        counts[key] = counts.get(key, 0) + region_group.regions
    counts["regions.total"] = sum(counts[f"regions.{state}"] for state in STATES)
    for status in ("total", "acknowledged", "silent", "unanswered"):
        counts[f"alert.{status}"] = counts[f"escalation.{status}"] = 0
    # Not shown: moves whenever a listed call is sent again or changes state, so the list is re-read.
    counts["calls.attempts"] = 0
    for group in await tally.calls(session, warning.id):
        kind, status, count = group.kind, group.status, group.calls
        counts["calls.attempts"] += group.attempts
        counts[f"calls.{status}"] = counts.get(f"calls.{status}", 0) + count
        counts[f"{kind}.total"] += count
        if status == "acknowledged":
            counts[f"{kind}.acknowledged"] += count
        if status in web_service.SILENT:
            counts[f"{kind}.silent"] += count
        if status == "unanswered":
            counts[f"{kind}.unanswered"] += count
    counts["status"] = status_name(warning.status, warning.close_kind)
    counts["open"] = warning.status in OPEN_WARNING
    return counts


async def region_states(session: AsyncSession, warning_id: str, prefix: str | None) -> dict[str, str]:
    query = select(WarningRegion.region_code, WarningRegion.state, WarningRegion.escalated_at.is_not(None)).where(
        WarningRegion.warning_id == warning_id
    )
    if prefix:
        query = query.where(WarningRegion.region_code.startswith(prefix))
    rows = (await session.execute(query)).tuples()
    return {code: web_service.cell_state(state, bool(escalated)) for code, state, escalated in rows}


async def call_states(session: AsyncSession, call_ids: set[str]) -> dict[str, tuple[str, int]]:
    """Status and attempts made of the given calls (those listed as not yet answered on the page)."""
    if not call_ids:
        return {}
    rows = await session.execute(select(Call.id, Call.status, Call.attempts).where(Call.id.in_(call_ids)))
    return {call_id: (status, attempts) for call_id, status, attempts in rows.tuples()}


def _event(name: str, data: Any) -> str:
    return f"event: {name}\ndata: {orjson.dumps(data).decode()}\n\n"


async def board_events(
    request: Request, warning_id: str, principal: Principal, *, prefix: str | None, with_regions: bool
) -> AsyncIterator[str]:
    """The stream: the state now, then each change as it happens."""
    yield "retry: 3000\n\n"
    last: dict[str, Any] | None = None
    regions: dict[str, str] = {}
    watched: dict[str, tuple[str, int]] | None = None
    started = last_sent = time.monotonic()
    while time.monotonic() - started < STREAM_SECONDS and not await request.is_disconnected():
        out: list[str] = []
        round_started = time.monotonic()
        async with session_scope(read_only=True) as session:
            warning = await session.get(Warning, warning_id)
            if warning is None:
                return
            counts = await summary(session, warning)
            if counts != last:
                if with_regions:
                    states = await region_states(session, warning_id, prefix)
                    changed = {code: state for code, state in states.items() if regions.get(code) != state}
                    regions = states
                    if changed:
                        out.append(_event("regions", changed))
                if watched is None:  # the calls the page lists (as they stand when the stream starts)
                    silent, _ = await web_service.silent_calls(session, warning, principal)
                    watched = {call.id: (call.status, call.attempts) for call in silent}
                now = await call_states(session, set(watched))
                moved = {call_id: state for call_id, state in now.items() if watched.get(call_id) != state}
                watched.update(moved)
                if moved:
                    calls = {call_id: {"status": status, "label": CALL_STATUS.get(status, status), "attempts": made}
                             for call_id, (status, made) in moved.items()}  # fmt: skip
                    out.append(_event("calls", calls))
                watched = {call_id: state for call_id, state in watched.items() if state[0] in web_service.SILENT}
                out.append(_event("summary", counts))
                last = counts
        if out:
            yield "".join(out)
            last_sent = time.monotonic()
            if last is not None and not last["open"]:
                return  # the warning has ended: nothing more will change on its board
        elif time.monotonic() - last_sent > KEEPALIVE_SECONDS:
            yield ": keep-alive\n\n"
            last_sent = time.monotonic()
        # Counting a warning of millions of calls takes seconds: such a board is polled less often,
        # so an open board never keeps the database busy more than a fifth of the time.
        await asyncio.sleep(max(POLL_SECONDS, BUSY_SHARE_INVERSE * (time.monotonic() - round_started)))


@router.get("/warnings/{warning_id}/live")
async def live(
    warning_id: str,
    request: Request,
    session: SessionDep,
    principal: PagePrincipal,
    county: Annotated[str | None, Query(max_length=12)] = None,
    regions: Annotated[int, Query(ge=0, le=1)] = 1,
) -> StreamingResponse:
    """Server-sent events for the board: `regions` (cells that changed state), `calls` (listed calls
    sent again, answered or closed) and `summary` (the counts), sent when something changed."""
    warning = await warning_service.get_warning(session, warning_id, principal)
    prefix = county[:6] if county and county.isdigit() else None
    return StreamingResponse(
        board_events(request, warning.id, principal, prefix=prefix, with_regions=bool(regions)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
