"""Following a CAP message's warnings along their chain: what it names, what is in force now, when each was said."""

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import Principal
from app.cap.allowed import could_have_posted
from app.cap.identity import Sender
from app.cap.parse import Message
from app.cap.received import APPLIED, find_warnings
from app.models.cap import CapAlert, CapAlertWarning, CapReference
from app.models.warning import Warning


async def referenced_warnings(session: AsyncSession, sender: Sender, message: Message) -> list[Warning]:
    """The warnings an Update or Cancel is about, each followed to the one in force now (an update
    of an update); empty when none of the messages it names was received here."""
    current: dict[str, Warning] = {}
    for reference in message.references:
        for warning in await find_warnings(session, sender, reference.sender, reference.identifier):
            in_force: Warning | None = warning
            while in_force is not None and in_force.superseded_by is not None:
                in_force = await session.get(Warning, in_force.superseded_by)
            if in_force is not None:
                current[in_force.id] = in_force
    return sorted(current.values(), key=lambda warning: (warning.created_at, warning.id))


async def in_force(session: AsyncSession, warnings: list[Warning]) -> list[Warning]:
    """Each warning followed to the one in force now (an update of an update)."""
    found: dict[str, Warning] = {}
    for warning in warnings:
        current: Warning | None = warning
        while current is not None and current.superseded_by is not None:
            current = await session.get(Warning, current.superseded_by)
        if current is not None:
            found[current.id] = current
    return list(found.values())


def _said_by(warning_id: Any, outcomes: tuple[str, ...]) -> Any:
    """The latest `sent` of the messages with these outcomes that made or changed the warning."""
    return (
        select(func.max(CapAlert.sent))
        .join(
            CapAlertWarning,
            (CapAlertWarning.sender == CapAlert.sender) & (CapAlertWarning.identifier == CapAlert.identifier),
        )
        .where(CapAlertWarning.warning_id == warning_id, CapAlert.outcome.in_(outcomes))
    )


async def last_said(session: AsyncSession, warnings: list[Warning]) -> datetime:
    """When the latest message that made or changed any of the warnings was sent (their issue time
    where no CAP message did)."""
    said = [await session.scalar(_said_by(warning.id, APPLIED)) or warning.created_at for warning in warnings]
    return max(said)


async def closed_at(session: AsyncSession, warning: Warning) -> datetime | None:
    """When a cancelled warning was cancelled, as its canceller said it (a CAP Cancel's sent time,
    else the time it was closed here); None for a warning not cancelled (one that expired)."""
    if warning.status != "cancelled":
        return None
    return await session.scalar(_said_by(warning.id, ("cancelled",))) or warning.closed_at


async def overtaken_by(session: AsyncSession, message: Message, principal: Principal) -> CapAlert | None:
    """An Update or Cancel already received that names this message: it came after its own news.
    Only one from the same sender, sent no earlier, and posted by a key that could have posted this
    message too counts (a key of one township cannot silence a county's alert by naming it first)."""
    query = (
        select(CapAlert)
        .join(CapReference, (CapReference.sender == CapAlert.sender) & (CapReference.identifier == CapAlert.identifier))
        .where(CapReference.ref_sender == message.sender, CapReference.ref_identifier == message.identifier)
        .where(CapAlert.sender == message.sender, CapAlert.sent >= message.sent)
        .order_by(CapAlert.sent.desc())
    )
    for candidate in await session.scalars(query):
        if could_have_posted(principal, candidate):
            return candidate
    return None
