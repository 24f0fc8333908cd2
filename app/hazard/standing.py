"""A contact's standing report link (/r/{token}): the form a village contact reports a hazard
through, from a cheap phone, without logging in.

The token is derived from the instance secret, the contact's id and a nonce the contact keeps
(app.call.tokens.derive_report_token); the contact keeps SHA-256 of it to be found by. A contact
gets a nonce when its link is first needed (the 上报险情 button of an ack page, a POST), a new one
when the link is sent again by SMS (the old link dies), and none once deactivated or given another
phone (the link dies with the post, and does not stay with the old number).
"""

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.call import tokens
from app.config import Settings
from app.contact.language import languages_of
from app.db import savepoint
from app.errors import Conflict
from app.hazard import steps
from app.hazard.schemas import HazardIn
from app.models.contact import Contact
from app.models.hazard import Hazard
from app.models.notify import Message
from app.models.region import Region
from app.notify import templates

# A message outside any call waits behind every call's attempts (see call.models.priority).
PRIORITY = 100
SAME_REPORT_WITHIN = timedelta(minutes=10)


def _issue(secret: bytes, contact_id: str) -> tuple[str, dict[str, str]]:
    """A new nonce: the token, and the columns that keep it."""
    nonce = secrets.token_hex(16)
    token = tokens.derive_report_token(secret, contact_id, nonce)
    return token, {"report_nonce": nonce, "report_token_hash": tokens.hash_token(token)}


async def report_token(session: AsyncSession, contact: Contact, *, actor: str, now: datetime) -> str | None:
    """The token of the contact's report link as it stands, made now if the contact has none yet
    (in the caller's unit of work, which must write); None for a contact off the roster."""
    secret = tokens.instance_secret()
    if contact.report_nonce is None:
        _, columns = _issue(secret, contact.id)
        # Two pages asking at once: the first nonce stays, and both get that one.
        made = await session.execute(
            update(Contact)
            .where(Contact.id == contact.id, Contact.report_nonce.is_(None), Contact.active)
            .values(**columns)
        )
        await session.refresh(contact, ["report_nonce", "active"])
        if made.rowcount:  # type: ignore[attr-defined]
            event = audit_service.Event(type="contact.report_link_made", actor=actor, region_code=contact.region_code,
                                        data={"contact_id": contact.id, "name": contact.name})  # fmt: skip
            await audit_service.record_event(session, event, now=now)
    if not contact.active or contact.report_nonce is None:
        return None
    return tokens.derive_report_token(secret, contact.id, contact.report_nonce)


async def reporter_of(session: AsyncSession, token: str) -> Contact | None:
    """The active contact whose link this is, if any (a guess is turned away without a lookup)."""
    if not tokens.plausible(token):
        return None
    return await session.scalar(
        select(Contact).where(Contact.report_token_hash == tokens.hash_token(token), Contact.active)
    )


async def send_new_link(
    session: AsyncSession, contact: Contact, *, settings: Settings, actor: str, now: datetime
) -> Message:
    """A new nonce (the old link dies) and an SMS with the new link (signed and fitted as the
    `settings` say), queued in the outbox; the sender puts the link in when it hands the message
    over, so it is never stored."""
    if not contact.active:
        raise Conflict(f"Contact {contact.id} is deactivated; put them back on the roster first.")
    _, columns = _issue(tokens.instance_secret(), contact.id)
    contact.report_nonce, contact.report_token_hash = columns["report_nonce"], columns["report_token_hash"]
    place = await session.scalar(select(Region.name).where(Region.code == contact.region_code)) or ""
    link_length = len(tokens.report_url(settings.public_url, "x" * tokens.TOKEN_LENGTH))
    lang = (await languages_of(session, [contact.id])).get(contact.id)
    text = templates.report_link_sms(signature=settings.sms_signature, name=contact.name, place=place,
                                     link_length=link_length, lang=lang)  # fmt: skip
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


async def report_once(session: AsyncSession, contact: Contact, data: HazardIn, *, now: datetime) -> Hazard:
    """A report from the contact's form; the very same report sent again within ten minutes (a
    second tap, a reload) is the one already made. Anything changed (紧急 ticked, a head count)
    is a new report."""
    again = await session.scalar(
        select(Hazard).where(
            Hazard.reporter_contact_id == contact.id, Hazard.region_code == data.region_code,
            Hazard.category == data.category, Hazard.description == data.description,
            Hazard.urgent == data.urgent, Hazard.people_at_risk.is_not_distinct_from(data.people_at_risk),
            Hazard.created_at >= now - SAME_REPORT_WITHIN,
        ).limit(1)
    )  # fmt: skip
    if again is not None:
        return again
    return await steps.report_hazard(session, data, actor=contact.name, now=now, reporter_contact=contact)


async def report_by_form(session: AsyncSession, contact: Contact, data: HazardIn, *, now: datetime) -> Hazard:
    """A report from the contact's form (see report_once). A refusal (the region abolished meanwhile,
    say) leaves nothing behind: a savepoint, and what was read is read again afterwards."""
    async with savepoint(session):
        return await report_once(session, contact, data, now=now)
