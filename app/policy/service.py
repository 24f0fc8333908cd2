"""Reading and changing the 叫应 policies."""

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.errors import NotFound
from app.models.policy import LEVELS, Policy
from app.policy.schemas import PolicyIn
from app.policy.snapshot import BROADCAST_BY_DEFAULT

FIELDS = ("reach", "ack_timeout_s", "max_attempts", "channels_by_attempt", "escalate", "escalate_above_county",
          "broadcast", "broadcast_repeat")  # fmt: skip


def as_dict(policy: Policy) -> dict[str, Any]:
    """The policy as a warning keeps it."""
    return {"level": policy.level, **{name: getattr(policy, name) for name in FIELDS}}


async def list_policies(session: AsyncSession) -> list[Policy]:
    """The four policies, from red to blue."""
    rows = {p.level: p for p in await session.scalars(select(Policy))}
    return [rows[level] for level in LEVELS if level in rows]


async def get_policy(session: AsyncSession, level: str) -> Policy:
    """The policy of a level, or 404."""
    policy = await session.get(Policy, level) if level in LEVELS else None
    if policy is None:
        raise NotFound(f"There is no policy for level {level!r}; levels are {', '.join(LEVELS)}.")
    return policy


async def put_policy(session: AsyncSession, level: str, data: PolicyIn, *, actor: str, now: datetime) -> Policy:
    """Replace a level's policy; warnings already issued keep the one they started with."""
    policy = await get_policy(session, level)
    before = as_dict(policy)
    if data.broadcast is None:  # left out: the level's default
        data = data.model_copy(update={"broadcast": level in BROADCAST_BY_DEFAULT})
    for name in FIELDS:
        setattr(policy, name, getattr(data, name))
    after = as_dict(policy)
    if after != before:
        policy.updated_at, policy.updated_by = now, actor
        await audit_service.record_event(
            session,
            audit_service.Event(
                type="policy.changed", actor=actor, data={"level": level, "before": before, "after": after}
            ),
        )
    return policy
