"""一键呼叫 (one-click mass call): the duty officer calls, now, everyone still silent on a warning.

One extra attempt, not counted against the policy's `max_attempts`, to every alert call still open:
by voice where the person has it and a provider carries it, else by SMS. Deadlines stay as they
are. The messages are stored `pending`, due now and ahead of any other work of the same level, so
the sender hands them over within its next tick; each call gets a `call.retried` event naming who
pressed. A second press within a minute does nothing more: a nervous double click must not ring
every phone twice.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.bulk import bulk_insert
from app.channels import speech_first
from app.contact.language import languages_of
from app.db import chunks, core_rows
from app.errors import Conflict
from app.i18n import SOURCE
from app.ids import new_ids
from app.models.call import IS_OPEN, Call
from app.models.call import priority as call_priority
from app.models.notify import Message
from app.models.warning import OPEN_STATUSES as OPEN_WARNING
from app.models.warning import Warning
from app.notify.base import Plan
from app.notify.callees import CalleeBook
from app.notify.claim import message_row
from app.notify.wording import attempt_texts, link_length, readable_channels, region_names

AGAIN_AFTER = timedelta(seconds=60)
CHUNK = 5000


@dataclass
class CallNow:
    warning_id: str
    called_at: datetime
    calls: int  # open alert calls called by this press (0 for a press within the minute)
    repeated: bool  # a press within a minute of the last one: nothing more was sent


async def call_now(session: AsyncSession, warning: Warning, *, plan: Plan, actor: str, now: datetime) -> CallNow:
    """Store one extra attempt, due now, for every open alert call of the warning (see module)."""
    locked = await session.scalar(
        select(Warning).where(Warning.id == warning.id).with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )  # fmt: skip
    assert locked is not None
    if locked.status not in OPEN_WARNING or locked.mode == "test":
        raise Conflict(f"Warning {locked.id} is {locked.status if locked.mode != 'test' else 'a dry run'}: nobody is "
                       "waiting to be called.")  # fmt: skip
    if locked.called_now_at is not None and now - locked.called_now_at < AGAIN_AFTER:
        return CallNow(locked.id, locked.called_now_at, 0, repeated=True)
    locked.called_now_at = now
    columns = (Call.id, Call.contact_id, Call.warning_id, Call.kind, Call.contact_phone, Call.contact_region_code,
               Call.channels, Call.region_codes, Call.about_region_codes, Call.attempts)  # fmt: skip
    query = select(*columns).where(Call.warning_id == locked.id, Call.kind == "alert", IS_OPEN).order_by(Call.id)
    open_calls = list((await core_rows(session, query)).all())
    priority = call_priority(locked.level, "call-now", retry=False)
    length = link_length(plan.public_url)
    called = 0
    for batch in chunks(open_calls, CHUNK):
        names = await region_names(session, {locked.id}, {code for call in batch for code in call.region_codes})
        book = await CalleeBook.load(session, {call.contact_phone for call in batch}, plan.callee_limits, now=now)
        languages = await languages_of(session, {call.contact_id for call in batch})
        texts_of: dict[tuple[Any, ...], dict[str, str]] = {}
        messages: list[dict[str, Any]] = []
        events: list[audit_service.Event] = []
        ids = iter(new_ids(2 * len(batch)))
        for call in batch:
            # A call where the person has one and may be called now (a per-callee limit), else text.
            carried = [channel for channel in call.channels if plan.carries(channel, call.kind)]
            allowed = [channel for channel in carried if book.free_at(call.contact_phone, channel, now) <= now]
            if not allowed:
                continue
            lang = languages.get(call.contact_id, SOURCE)
            wording = (tuple(call.region_codes), lang)
            if (texts := texts_of.get(wording)) is None:
                texts = texts_of[wording] = attempt_texts(
                    locked, call, names, length, lang=lang, signature=plan.signature
                )
            # A call in Chinese brings the SMS in the person's own language beside it.
            for channel in readable_channels([speech_first(allowed)], allowed, lang, plan):
                book.add(call.contact_phone, channel, now)
                row = message_row(call, channel, max(call.attempts, 1), texts[channel], priority=priority, now=now)
                row.update(id=next(ids), status="pending", claimed_at=None)
                messages.append(row)
                events.append(audit_service.Event(
                    type="call.retried", actor=actor, warning_id=locked.id, call_id=call.id,
                    region_code=call.contact_region_code,
                    data={"reason": "call-now", "attempt": "extra", "channel": channel, "message_id": row["id"]},
                ))  # fmt: skip
        await bulk_insert(session, Message, messages)
        await audit_service.record_events(session, events, chain=audit_service.warning_chain(locked.id), now=now)
        called += len({message["call_id"] for message in messages})
    return CallNow(locked.id, now, called, repeated=False)
