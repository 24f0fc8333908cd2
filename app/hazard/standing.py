"""A contact's standing report link (/r/{token}): the form a village contact reports a hazard
through, from a cheap phone, without logging in.

The token is derived from the instance secret, the contact's id and a nonce the contact keeps
(app.ack.tokens.derive_report_token); the contact keeps SHA-256 of it to be found by. A contact
gets a nonce when its link is first needed (the ack page shows it), a new one when the link is
sent again by SMS (the old link dies), and none once deactivated (the link dies with the post).
"""

import secrets
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.ack import tokens
from app.audit import service as audit_service
from app.config import get_settings
from app.contact.models import Contact
from app.db import session_scope
from app.errors import Conflict
from app.notify import templates
from app.notify.models import Message
from app.region.models import Region

# A message outside any call waits behind every call's attempts (see call.models.priority).
PRIORITY = 100


def _issue(secret: bytes, contact_id: str) -> tuple[str, dict[str, str]]:
    """A new nonce: the token, and the columns that keep it."""
    nonce = secrets.token_hex(16)
    token = tokens.derive_report_token(secret, contact_id, nonce)
    return token, {"report_nonce": nonce, "report_token_hash": tokens.hash_token(token)}


async def link_of(contact_id: str) -> str | None:
    """The contact's report link as it stands (made on first need, in a unit of work of its own, so
    a page that only reads can show it); None for a deactivated contact or someone off the roster."""
    if not contact_id:
        return None
    secret = tokens.instance_secret()
    async with session_scope() as session:
        row = (await session.execute(
            select(Contact.active, Contact.report_nonce).where(Contact.id == contact_id)
        )).one_or_none()  # fmt: skip
        if row is None or not row.active:
            return None
        if row.report_nonce is not None:
            token = tokens.derive_report_token(secret, contact_id, row.report_nonce)
        else:
            token, columns = _issue(secret, contact_id)
            # Two pages opened at once: the first nonce stays, and the second page shows that one.
            await session.execute(
                update(Contact).where(Contact.id == contact_id, Contact.report_nonce.is_(None)).values(**columns)
            )
            nonce = await session.scalar(select(Contact.report_nonce).where(Contact.id == contact_id))
            token = tokens.derive_report_token(secret, contact_id, nonce or "")
    return tokens.report_url(get_settings().public_url, token)


async def reporter_of(session: AsyncSession, token: str) -> Contact | None:
    """The active contact whose link this is, if any (a guess is turned away without a lookup)."""
    if not tokens.plausible(token):
        return None
    return await session.scalar(
        select(Contact).where(Contact.report_token_hash == tokens.hash_token(token), Contact.active)
    )


async def send_new_link(session: AsyncSession, contact: Contact, *, actor: str, now: datetime) -> Message:
    """A new nonce (the old link dies) and an SMS with the new link, queued in the outbox; the
    sender puts the link in when it hands the message over, so it is never stored."""
    if not contact.active:
        raise Conflict(f"Contact {contact.id} is deactivated; put them back on the roster first.")
    _, columns = _issue(tokens.instance_secret(), contact.id)
    contact.report_nonce, contact.report_token_hash = columns["report_nonce"], columns["report_token_hash"]
    place = await session.scalar(select(Region.name).where(Region.code == contact.region_code)) or ""
    text = templates.report_link_sms(signature=get_settings().sms_signature, name=contact.name, place=place)
    message = Message(
        call_id=None, contact_id=contact.id, kind="report_link", channel="sms", to=contact.phone, attempt=0,
        text=text, with_link=True, status="pending", priority=PRIORITY, due_at=now, created_at=now,
    )  # fmt: skip
    session.add(message)
    await session.flush()
    sent = audit_service.Event(
        type="contact.report_link_sent", actor=actor, region_code=contact.region_code,
        data={"contact_id": contact.id, "name": contact.name, "phone": contact.phone, "message_id": message.id},
    )  # fmt: skip
    await audit_service.record_event(session, sent, now=now)
    return message
