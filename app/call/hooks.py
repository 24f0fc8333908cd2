"""What else happens when a call is answered or cancelled: a call about a hazard report moves the
report on (接报, 报到), and one cancelled (its person taken off the roster) has the report called
anew. The engine below does not know the packages that listen; they register here when the app is
made (hazard.listeners.register), and every path that answers or cancels a call tells them, in its
own transaction."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class Answered:
    """A call just answered."""

    call_id: str
    kind: str
    hazard_id: str | None
    method: str
    actor: str


AnswerHook = Callable[[AsyncSession, list[Answered], datetime], Awaitable[None]]
_listeners: list[AnswerHook] = []


def on_answer(hook: AnswerHook) -> None:
    """Be told of every call answered (once per hook, however often registered)."""
    if hook not in _listeners:
        _listeners.append(hook)


async def answered(session: AsyncSession, calls: list[Answered], now: datetime) -> None:
    """Tell the listeners of calls answered; only calls about something other than a warning."""
    about_reports = [call for call in calls if call.hazard_id is not None]
    if not about_reports:
        return
    for hook in _listeners:
        await hook(session, about_reports, now)


@dataclass(frozen=True)
class Cancelled:
    """A call about a hazard report just cancelled, its person taken off the roster."""

    id: str
    hazard_id: str
    hazard_step: str | None
    department_id: str | None


CancelHook = Callable[[AsyncSession, list[Cancelled], datetime], Awaitable[None]]
_cancel_listeners: list[CancelHook] = []


def on_cancel(hook: CancelHook) -> None:
    """Be told of every call about a report cancelled (once per hook, however often registered)."""
    if hook not in _cancel_listeners:
        _cancel_listeners.append(hook)


async def cancelled(session: AsyncSession, calls: list[Cancelled], now: datetime) -> None:
    if not calls:
        return
    for hook in _cancel_listeners:
        await hook(session, calls, now)
