"""Gateways as the senders last saw them, readable by every process: a channel is degraded when
every provider that carries it is down. /readyz and the console say so (the API still works:
acknowledgements by link, manual answers and the record do not need a gateway)."""

import logging
from datetime import datetime, timedelta

from sqlalchemy import case, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.channels import NAMES
from app.db import dialect_insert, session_scope, utc_now
from app.models.notify import GatewayState

log = logging.getLogger(__name__)
# A failing gateway with messages waiting is probed at least once a minute (dispatch.MAX_BACKOFF_S),
# and each failed probe renews its state; a state older than this was left by a sender that has
# stopped, or by a gateway nothing has needed since (then the banner goes, rather than stay false).
FRESH = timedelta(seconds=90)


async def record(provider: str, up: bool, error: str | None) -> None:
    """Write what a sender just saw of a provider's gateway (its own transaction)."""
    now = utc_now()
    try:
        async with session_scope() as session:
            insert = dialect_insert(session)(GatewayState).values(
                provider=provider, up=up, error=error, since=now, checked_at=now
            )
            # `since` moves only when the state changes: a failed probe renews a down state.
            since = case((GatewayState.up == up, GatewayState.since), else_=insert.excluded.since)
            await session.execute(
                insert.on_conflict_do_update(
                    index_elements=["provider"], set_={"up": up, "error": error, "checked_at": now, "since": since}
                )
            )
    except Exception:  # the state is advisory: sending goes on whatever happens to it
        log.exception("could not record the state of provider %s", provider)


async def down_providers(session: AsyncSession, *, now: datetime) -> dict[str, GatewayState]:
    """Providers whose gateway a sender saw failing within the last few minutes."""
    rows = await session.scalars(
        select(GatewayState).where(GatewayState.up.is_(False), GatewayState.checked_at >= now - FRESH)
    )
    return {state.provider: state for state in rows}


async def degraded_channels(session: AsyncSession, chains: dict[str, list[str]], *, now: datetime) -> dict[str, str]:
    """Channels every provider of which is down, each with the latest error seen."""
    down = await down_providers(session, now=now)
    degraded = {}
    for channel, names in chains.items():
        if names and all(name in down for name in names):
            degraded[channel] = down[names[0]].error or "gateway failing"
    return degraded


async def channel_states(chains: dict[str, list[str]], *, now: datetime) -> dict[str, str]:
    """Each channel as /readyz reports it: `ok`, `degraded` (every provider of it failing), or
    `unavailable` (no provider configured for it)."""
    async with session_scope(read_only=True) as session:
        degraded = await degraded_channels(session, chains, now=now)
    return {
        channel: "unavailable" if channel not in chains else "degraded" if channel in degraded else "ok"
        for channel in NAMES
    }
