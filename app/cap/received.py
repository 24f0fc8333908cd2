"""The record of CAP messages received: each claimed once, the messages it names, the warnings it made or changed."""

from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import Principal
from app.cap import identity
from app.cap.identity import Sender
from app.cap.parse import Message
from app.db import dialect_insert
from app.models.cap import CapAlert, CapAlertWarning, CapReference
from app.models.warning import Warning

Outcome = Literal["created", "updated", "cancelled", "recorded", "duplicate"]
# Outcomes of messages that made or changed a warning (not those only recorded).
APPLIED = ("created", "updated", "cancelled")


async def find_warnings(session: AsyncSession, sender: Sender, sender_name: str, identifier: str) -> list[Warning]:
    """The warnings a CAP message (ours, or one received) made or changed: one per level it stated."""
    linked = select(Warning).join(CapAlertWarning, CapAlertWarning.warning_id == Warning.id)
    query = linked.where(CapAlertWarning.sender == sender_name, CapAlertWarning.identifier == identifier)
    found = list(await session.scalars(query.order_by(Warning.created_at, Warning.id)))
    if found:
        return found
    own = await identity.own_warning(session, sender, sender_name, identifier)
    return [own] if own is not None else []


async def already_received(session: AsyncSession, sender: Sender, message: Message) -> list[Warning] | None:
    """A message already taken: its warnings (none for one recorded without); None if it is new."""
    row = await session.get(CapAlert, (message.sender, message.identifier))
    if row is not None and row.outcome is not None:
        return await find_warnings(session, sender, message.sender, message.identifier)
    own = await identity.own_warning(session, sender, message.sender, message.identifier)
    return [own] if own is not None else None


async def claim(session: AsyncSession, message: Message, *, principal: Principal, now: datetime) -> CapAlert | None:
    """Hold the message's sender and identifier for this transaction; None if another already has them."""
    claimed = await session.execute(
        dialect_insert(session)(CapAlert)
        .values(
            sender=message.sender,
            identifier=message.identifier,
            sent=message.sent,
            msg_type=message.msg_type,
            warning_id=None,
            received_at=now,
            received_by=principal.name,
            received_within=principal.within,
            document=message.document,
        )
        .on_conflict_do_nothing(index_elements=["sender", "identifier"])
        .returning(CapAlert.sender)
    )
    if claimed.scalar() is None:
        return None
    return await session.get(CapAlert, (message.sender, message.identifier))


async def store_references(session: AsyncSession, message: Message) -> None:
    """The messages this one names in `references`, kept beside it (each once, with the sent time first written)."""
    named = {(ref.sender[:255], ref.identifier[:255]): ref.sent[:40] for ref in reversed(message.references)}
    rows = [
        {"sender": message.sender, "identifier": message.identifier, "ref_sender": ref_sender,
         "ref_identifier": ref_identifier, "ref_sent": ref_sent}
        for (ref_sender, ref_identifier), ref_sent in named.items()
    ]  # fmt: skip
    if rows:
        await session.execute(dialect_insert(session)(CapReference).values(rows).on_conflict_do_nothing())


async def link(session: AsyncSession, messages: list[tuple[str, str]], warnings: list[Warning]) -> None:
    """Each message (sender, identifier) leads to each of the warnings; a link already there is kept."""
    rows = [{"sender": sender_name[:255], "identifier": identifier[:255], "warning_id": warning.id}
            for sender_name, identifier in dict.fromkeys(messages) for warning in warnings]  # fmt: skip
    if rows:
        await session.execute(dialect_insert(session)(CapAlertWarning).values(rows).on_conflict_do_nothing())
