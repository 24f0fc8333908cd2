"""The CAP messages a warning stands for when Jiaoying is the sender, and their identifiers.

A warning is one message when issued (Alert, or Update when it supersedes another) and a second
one when cancelled (Cancel). With the sender's 14-digit organisation code configured, identifiers
follow GB/T 35965.1: `<code>_<YYYYMMDDHHMMSS>` in Beijing time; messages sharing a second are told
apart by `_2`, `_3`... in the order they were made. Without a code, the identifier is the warning's
id (`.cancel` added for its Cancel). Either way an identifier leads back to its warning, so our own
alert, relayed back to us by a hub, is recognised rather than issued again.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.models.warning import Warning
from app.times import BEIJING

_GB_IDENTIFIER = re.compile(r"^(\d{14})_(\d{14})(?:_(\d{1,4}))?$")
_ID_IDENTIFIER = re.compile(r"^([0-9a-z]{26})(\.cancel)?$")


@dataclass(frozen=True)
class Sender:
    """Who Jiaoying's CAP messages say they come from."""

    sender: str
    code: str | None = None
    name: str | None = None


def sender_of(settings: Settings) -> Sender:
    """The sender the settings configure (by default jiaoying@ the public URL's host)."""
    host = urlsplit(settings.public_url).hostname or "localhost"
    return Sender(
        sender=settings.cap_sender or f"jiaoying@{host}", code=settings.cap_sender_code, name=settings.cap_sender_name
    )


@dataclass(frozen=True)
class Identity:
    """One of our messages: its identifier and sent time, as a `references` triplet needs them."""

    sender: str
    identifier: str
    sent: datetime

    @property
    def sent_text(self) -> str:
        return cap_time(self.sent)

    @property
    def reference(self) -> str:
        return f"{self.sender},{self.identifier},{self.sent_text}"


def cap_time(moment: datetime) -> str:
    """A CAP time: Beijing time to the second with its offset (CAP forbids 'Z')."""
    return moment.astimezone(BEIJING).replace(microsecond=0).isoformat()


def _second(moment: datetime) -> datetime:
    return moment.astimezone(BEIJING).replace(microsecond=0)


async def _messages_in_second(session: AsyncSession, second: datetime) -> list[tuple[datetime, str, str]]:
    """Our messages made in one Beijing second, in order: (time, warning id, "issued" or "cancelled")."""
    end = second + timedelta(seconds=1)
    issued = await session.execute(
        select(Warning.created_at, Warning.id).where(Warning.created_at >= second, Warning.created_at < end)
    )
    cancelled = await session.execute(
        select(Warning.closed_at, Warning.id).where(
            Warning.status == "cancelled", Warning.closed_at >= second, Warning.closed_at < end
        )
    )
    rows = [(at, warning_id, "issued") for at, warning_id in issued.tuples()]
    rows += [(at, warning_id, "cancelled") for at, warning_id in cancelled.tuples() if at is not None]
    return sorted(rows)


async def identity(session: AsyncSession, sender: Sender, warning: Warning, *, cancel: bool = False) -> Identity:
    """Our message for a warning's issue, or (cancel=True) for its cancellation."""
    at = warning.closed_at if cancel and warning.closed_at else warning.created_at
    if sender.code is None:
        return Identity(sender.sender, warning.id + (".cancel" if cancel else ""), at)
    second = _second(at)
    kind = "cancelled" if cancel else "issued"
    order = [(warning_id, what) for _, warning_id, what in await _messages_in_second(session, second)]
    position = order.index((warning.id, kind)) + 1 if (warning.id, kind) in order else 1
    suffix = f"_{position}" if position > 1 else ""
    return Identity(sender.sender, f"{sender.code}_{second.strftime('%Y%m%d%H%M%S')}{suffix}", at)


async def own_warning(session: AsyncSession, sender: Sender, sender_name: str, identifier: str) -> Warning | None:
    """The warning one of our own messages stands for, or None when the message is not ours."""
    if sender_name != sender.sender:
        return None
    if found := _ID_IDENTIFIER.match(identifier):
        return await session.get(Warning, found.group(1))
    found = _GB_IDENTIFIER.match(identifier)
    if found is None or found.group(1) != sender.code:
        return None
    try:
        second = datetime.strptime(found.group(2), "%Y%m%d%H%M%S").replace(tzinfo=BEIJING)
    except ValueError:
        return None
    messages = await _messages_in_second(session, second)
    position = int(found.group(3) or 1)
    if not 1 <= position <= len(messages):
        return None
    return await session.get(Warning, messages[position - 1][1])
