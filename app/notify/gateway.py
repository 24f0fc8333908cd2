"""What a gateway tells us: delivery receipts, and replies from phones (an SMS, a key on a call)."""

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import i18n
from app.audit import service as audit_service
from app.call import service as call_service
from app.call.models import OPEN_STATUSES, Call
from app.channels import CHANNELS
from app.contact.language import language_of_phone
from app.contact.models import Contact
from app.db import among, chunks, dialect_insert
from app.errors import NotFound
from app.groups import GroupCommit
from app.hazard import service as hazard_service
from app.i18n import N_
from app.notify.metrics import MESSAGES
from app.notify.models import Inbound, Message
from app.warning.models import OPEN_STATUSES as OPEN_WARNING
from app.warning.models import Warning

# Whole replies that say "received" (after trimming, without punctuation or spaces, any case), and
# the words of each language's catalog for them.
ACK_WORDS = N_("收到|已收到|收到了|好的|好|确认|明白|1|ok")
REPLY_WINDOW = timedelta(hours=24)


def _bare(text: str) -> str:
    """The reply without spaces, punctuation or symbols, case folded: "收到！" -> "收到", " OK." -> "ok"."""
    text = unicodedata.normalize("NFKC", text)  # full-width ＯＫ and １ from Chinese input methods
    return "".join(ch for ch in text if unicodedata.category(ch)[0] not in "PZSC").casefold()


def is_acknowledgement(
    channel: str, text: str | None, digits: str | None, languages: Iterable[str] = (i18n.SOURCE,)
) -> bool:
    """The voice key 1, or an SMS whose whole text is a word for "received" in Chinese or in one of
    the person's languages (没收到 is not)."""
    if CHANNELS[channel].form == "speech":
        return (digits or "").strip() == "1"
    words = {_bare(word) for lang in languages for word in i18n.catalog(lang).words(ACK_WORDS)}
    return _bare(text or "") in words


@dataclass
class Receipt:
    message_id: str
    status: str  # delivered | failed
    error: str | None = None
    provider: str | None = None  # the provider it came from, recorded where the message has none


@dataclass
class Settled:
    """Receipts applied to their messages' rows: which changed a row, and the others' statuses."""

    changed: dict[int, Any]  # receipt's index -> the message row it changed
    statuses: list[str | None]  # each receipt's message status after it (None: no such message)
    regions: dict[str, str] = field(default_factory=dict)  # contact id -> region, for messages outside calls

    def failed_calls(self, receipts: list[Receipt]) -> list[str]:
        """Calls whose ladder a failure brings forward (notices, attempt 0, have none)."""
        return sorted(
            {row.call_id for i, row in self.changed.items() if receipts[i].status == "failed" and row.attempt > 0}
        )

    def events(self, receipts: list[Receipt]) -> list[audit_service.Event]:
        events = []
        for index, row in sorted(self.changed.items()):
            receipt = receipts[index]
            MESSAGES.labels(row.provider or "unknown", row.channel, receipt.status).inc()
            events.append(audit_service.Event(
                type=f"message.{receipt.status}", actor="gateway", warning_id=row.warning_id, hazard_id=row.hazard_id,
                call_id=row.call_id, region_code=self.regions.get(row.contact_id or ""),
                data={"message_id": receipt.message_id, "channel": row.channel, "attempt": row.attempt,
                      "error": receipt.error, "provider": row.provider,
                      **({"contact_id": row.contact_id} if row.contact_id else {})},
            ))  # fmt: skip
        return events


async def settle_messages(session: AsyncSession, receipts: list[Receipt], *, now: datetime) -> Settled:
    """Each receipt's message becomes delivered or failed, once, in message id order; a second
    receipt for one message in the same batch changes nothing."""
    changed: dict[int, Any] = {}
    done: set[str] = set()
    for index in sorted(range(len(receipts)), key=lambda i: receipts[i].message_id):
        receipt = receipts[index]
        if receipt.message_id in done:
            continue
        done.add(receipt.message_id)
        # Pending too: a message the gateway took although its answer timed out waits for a
        # resend, which its receipt makes unnecessary.
        row = (
            await session.execute(
                update(Message)
                .where(Message.id == receipt.message_id, Message.status.in_(("pending", "sending", "sent")))
                .values(status=receipt.status, receipt_at=now, error=receipt.error,
                        provider=func.coalesce(Message.provider, receipt.provider))
                .returning(Message.id, Message.call_id, Message.warning_id, Message.hazard_id, Message.contact_id,
                           Message.channel, Message.attempt, Message.provider)
            )
        ).one_or_none()  # fmt: skip
        if row is not None:
            changed[index] = row
    others = sorted({r.message_id for i, r in enumerate(receipts) if i not in changed})
    current: dict[str, str] = {}
    for chunk in chunks(others):
        found = await session.execute(select(Message.id, Message.status).where(among(Message.id, chunk)))
        current.update(found.tuples().all())
    statuses = [r.status if i in changed else current.get(r.message_id) for i, r in enumerate(receipts)]
    contact_ids = sorted({row.contact_id for row in changed.values() if row.contact_id})
    regions = dict((await session.execute(
        select(Contact.id, Contact.region_code).where(Contact.id.in_(contact_ids))
    )).tuples().all()) if contact_ids else {}  # fmt: skip
    return Settled(changed, statuses, regions)


async def record_receipts(session: AsyncSession, receipts: list[Receipt], *, now: datetime) -> list[str | None]:
    """Delivery receipts: each message becomes delivered or failed (once); a failure brings its
    call's next attempt forward. Returns each message's status, None for an id nobody sent.

    Locks go messages (in id order), calls (in id order), chain heads (in warning order), as the
    sender's record does, so a batch of receipts and a sending round never deadlock."""
    settled = await settle_messages(session, receipts, now=now)
    failed = settled.failed_calls(receipts)
    if failed:
        await call_service.lock_calls(session, Call.id.in_(failed))
    retried = await call_service.bring_attempts_forward(session, failed, reason="delivery failed", now=now)
    await audit_service.record_warning_events(session, settled.events(receipts) + retried, now=now)
    return settled.statuses


async def _record_group(session: AsyncSession, receipts: list[Receipt], now: datetime) -> list[str | None]:
    return await record_receipts(session, receipts, now=now)


def receipt_groups() -> GroupCommit[Receipt, str | None]:
    """Receipts of one process, recorded in groups (app.groups): a gateway reports on every message
    it took, each report on the warning's chain, and one transaction per report would queue them
    all behind that chain's head."""
    return GroupCommit("receipts", _record_group, batch=500, window_s=0.005)


async def record_receipt(
    session: AsyncSession,
    message_id: str,
    status: str,
    error: str | None,
    *,
    now: datetime,
    provider: str | None = None,
) -> str:
    """One delivery receipt (see record_receipts); 404 for an id nobody sent."""
    (result,) = await record_receipts(session, [Receipt(message_id, status, error, provider)], now=now)
    if result is None:
        raise NotFound(f"No message has id {message_id!r}.")
    return result


async def take_inbound(
    session: AsyncSession,
    *,
    inbound_id: str,
    phone: str,
    channel: str,
    text: str | None,
    digits: str | None,
    now: datetime,
) -> dict[str, Any]:
    """A reply from a phone. An acknowledgement answers that phone's calls of active warnings from
    the last 24 hours that are open, and its alert calls that went unanswered (then late); anything else from a known
    phone is kept on the timeline as a reply; an unknown phone changes nothing. Replays of an
    `inbound_id` change nothing either."""
    languages = await language_of_phone(session, phone)
    if channel == "sms" and text and hazard_service.sms_report(text, languages) is not None:
        return await _report(session, inbound_id=inbound_id, phone=phone, text=text, languages=languages, now=now)
    acknowledging = is_acknowledgement(channel, text, digits, languages | {i18n.SOURCE})
    calls = list(
        await session.scalars(
            select(Call)
            .outerjoin(Warning, Warning.id == Call.warning_id)
            .where(
                Call.contact_phone == phone,
                Call.created_at >= now - REPLY_WINDOW,
                # Calls of warnings in force, and calls about hazard reports (closed with their report).
                or_(Warning.status.in_(OPEN_WARNING), Call.hazard_id.is_not(None)),
            )
            .order_by(Call.id)
        )
    )
    # A reply that answers nothing goes on the timeline of what the phone was last called about:
    # a warning in force first (its board shows replies), else a report.
    about_warnings = [call for call in calls if call.warning_id is not None]
    latest = (about_warnings or calls)[-1] if calls else await session.scalar(
        select(Call).where(Call.contact_phone == phone).order_by(Call.id.desc()).limit(1)
    )  # fmt: skip
    if latest is None:
        return {"result": "unknown_phone", "acknowledged": []}
    result = "acknowledged" if acknowledging else "reply"
    row = {"inbound_id": inbound_id, "phone": phone, "channel": channel, "text": text, "digits": digits,
           "result": result, "received_at": now}  # fmt: skip
    if not await _first_time(session, row):
        return {"result": "duplicate", "acknowledged": []}
    if not acknowledging:
        reply = audit_service.Event(
            type="reply.received", actor=latest.contact_name, warning_id=latest.warning_id, hazard_id=latest.hazard_id,
            call_id=latest.id,
            region_code=latest.contact_region_code,
            data={"inbound_id": inbound_id, "channel": channel, "text": text, "digits": digits},
        )  # fmt: skip
        await audit_service.record_warning_events(session, [reply], now=now)
        return {"result": "reply", "acknowledged": []}
    method = CHANNELS[channel].ack_method
    answered = []
    # All the calls first, in id order, then each warning's chain in warning order: the order the
    # link's batched answers lock in, so the two never deadlock.
    await call_service.lock_reports(session, [call.hazard_id for call in calls])
    await call_service.lock_calls(session, Call.id.in_([call.id for call in calls]))
    for call in sorted(calls, key=lambda call: (call.warning_id or "", call.id)):
        await session.refresh(call)  # as locked: a warning closed meanwhile leaves its calls alone
        # Every open call of the phone (alert, escalation), and alerts that went unanswered (late).
        if call.status in OPEN_STATUSES or (call.kind == "alert" and call.status == "unanswered"):
            await call_service.acknowledge(session, call, method=method, actor=call.contact_name, now=now)
            answered.append(call.id)
    return {"result": "acknowledged", "acknowledged": answered}


async def _report(
    session: AsyncSession, *, inbound_id: str, phone: str, text: str, languages: set[str], now: datetime
) -> dict[str, Any]:
    """An SMS starting 险情 or 报告 from a phone on the roster: a hazard report of that person's region
    (the person's latest roster entry, when the phone answers for several)."""
    contact = await session.scalar(
        select(Contact).where(Contact.phone == phone, Contact.active.is_(True)).order_by(Contact.updated_at.desc())
    )
    if contact is None:
        return {"result": "unknown_phone", "acknowledged": []}
    row = {"inbound_id": inbound_id, "phone": phone, "channel": "sms", "text": text, "digits": None,
           "result": "hazard_report", "received_at": now}  # fmt: skip
    if not await _first_time(session, row):
        return {"result": "duplicate", "acknowledged": []}
    hazard = await hazard_service.report_by_sms(session, contact, text, languages=languages, now=now)
    return {"result": "hazard_report", "acknowledged": [], "hazard_id": hazard.id if hazard else None}


async def _first_time(session: AsyncSession, row: dict[str, Any]) -> bool:
    """Keep the inbound once; False if its id was seen before (a gateway's retry)."""
    stored = await session.execute(
        dialect_insert(session)(Inbound)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["inbound_id"])
        .returning(Inbound.inbound_id)
    )
    return stored.scalar() is not None
