"""What else happens when a call is answered: a call about a hazard report moves the report on
(接报, 报到). The engine below does not know the packages that listen; they register here when the
app is made (hazard.service.register), and every path that answers a call tells them, in the
answer's own transaction."""

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
