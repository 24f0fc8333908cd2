"""What else happens when people leave the roster (deactivated, or missing from a `replace`
import): the engine above cancels their open calls, and a report one of them was asked to take is
called anew. The roster does not know the engine; it registers here when the app, the worker or
the command line starts (app.wiring), and every path that deactivates tells it, in its own
transaction. Nothing registered is a mistake that would leave people chased after they left, so it
stops the change rather than pass in silence."""

from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

LeftHook = Callable[..., Awaitable[object]]  # (session, contact_ids, *, actor, now)
_listeners: list[LeftHook] = []


def on_leave(hook: LeftHook) -> None:
    """Be told of people taken off the roster (once per hook, however often registered)."""
    if hook not in _listeners:
        _listeners.append(hook)


async def left(session: AsyncSession, contact_ids: list[str], *, actor: str, now: datetime) -> None:
    if not contact_ids:
        return
    if not _listeners:
        raise RuntimeError("nothing listens for people leaving the roster: call app.wiring.register() at start")
    for hook in _listeners:
        await hook(session, contact_ids, actor=actor, now=now)
