"""Taking in CAP alerts: Alert issues a warning, Update supersedes and Cancel cancels the warning
its `references` name, through the same services as the JSON API (scope, fan-out and audit shared).

The message's sender and identifier are claimed first, in the same transaction: a second copy,
even one arriving at the same moment, waits for the first and then answers with its warning.
"""

from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.auth.service import Principal
from app.cap import identity, mapping
from app.cap.identity import Sender
from app.cap.models import CapAlert
from app.cap.parse import Message, Reference
from app.db import dialect_insert
from app.errors import Conflict, Forbidden, Unprocessable
from app.region.models import Region
from app.warning import lifecycle
from app.warning import service as warning_service
from app.warning.models import OPEN_STATUSES, Warning

Outcome = Literal["created", "updated", "cancelled", "duplicate"]


class UnknownReferences(Unprocessable):
    """An Update or Cancel of an alert not received (yet): a feed may still bring that alert."""


async def find_warning(session: AsyncSession, sender: Sender, sender_name: str, identifier: str) -> Warning | None:
    """The warning a CAP message (ours, or one received) made or changed, if any."""
    row = await session.get(CapAlert, (sender_name, identifier))
    if row is not None and row.warning_id is not None:
        return await session.get(Warning, row.warning_id)
    return await identity.own_warning(session, sender, sender_name, identifier)


async def _claim(session: AsyncSession, message: Message, *, actor: str, now: datetime) -> CapAlert | None:
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
            received_by=actor,
            document=message.document,
        )
        .on_conflict_do_nothing(index_elements=["sender", "identifier"])
        .returning(CapAlert.sender)
    )
    if claimed.scalar() is None:
        return None
    return await session.get(CapAlert, (message.sender, message.identifier))


async def _check_regions(session: AsyncSession, mapped: mapping.Mapped) -> None:
    """422 naming each geocode that is no region here (or an abolished one), where the alert has it."""
    codes = list(mapped.code_locs)
    found = {r.code: r for r in await session.scalars(select(Region).where(Region.code.in_(codes)))}
    errors = [
        {"loc": mapped.code_locs[code], "msg": f"region {code} is {'abolished' if code in found else 'unknown'}"}
        for code in codes
        if code not in found or found[code].abolished
    ]
    if errors:
        named = "; ".join(str(error["msg"]) for error in errors)
        raise Unprocessable(f"The alert's areas name regions that cannot be warned: {named}.", errors=errors)


def _ensure_own_alert(principal: Principal, warning: Warning) -> None:
    """An alert already taken is answered only to a caller who could have posted it (its warning
    is not named to anyone else)."""
    if not all(principal.covers(path) for path in warning.area_paths):
        raise Forbidden(f"The alert's areas lie outside your key's region {principal.region_code}.")


def _ensure_writable(principal: Principal, warning: Warning) -> None:
    if not all(principal.covers(path) for path in warning.area_paths):
        raise Forbidden(f"Warning {warning.id} reaches beyond your key's region {principal.region_code}.")


async def referenced_warning(session: AsyncSession, sender: Sender, message: Message) -> Warning:
    """The warning an Update or Cancel is about: the newest open one its references lead to."""
    if not message.references:
        raise Unprocessable(
            f"An {message.msg_type} must name the alert it changes in <references>.",
            errors=[{"loc": ["body", "alert", "references"], "msg": "missing"}],
        )
    current: dict[str, Warning] = {}
    for reference in message.references:
        warning = await find_warning(session, sender, reference.sender, reference.identifier)
        # An update of an update: follow the chain to the warning in force now.
        while warning is not None and warning.superseded_by is not None:
            warning = await session.get(Warning, warning.superseded_by)
        if warning is not None:
            current[warning.id] = warning
    if not current:
        raise UnknownReferences(
            f"The {message.msg_type}'s references name no alert received here: {_named(message.references)}.",
            errors=[{"loc": ["body", "alert", "references"], "msg": "no alert received here has these identifiers"}],
        )
    open_ = [warning for warning in current.values() if warning.status in OPEN_STATUSES]
    if len(open_) > 1:
        raise Unprocessable(
            f"The {message.msg_type}'s references lead to several open warnings ({', '.join(w.id for w in open_)}); "
            "send one message per warning.",
            errors=[{"loc": ["body", "alert", "references"], "msg": "several open warnings"}],
        )
    # None open: the newest closed one, which the lifecycle then refuses with 409.
    return open_[0] if open_ else max(current.values(), key=lambda warning: warning.created_at)


def _named(references: list[Reference]) -> str:
    shown = ", ".join(f"{ref.sender} {ref.identifier}" for ref in references[:3])
    return shown + (f" and {len(references) - 3} more" if len(references) > 3 else "")


async def receive_alert(
    session: AsyncSession,
    message: Message,
    *,
    sender: Sender,
    principal: Principal,
    now: datetime,
    fanout_above: int,
) -> tuple[Warning, Outcome]:
    """Act on a CAP message as its msgType says; the same sender and identifier again returns its
    warning. An Alert or Update above `fanout_above` people is expanded in steps, as issuing is."""
    if message.msg_type not in ("Alert", "Update", "Cancel"):
        raise Unprocessable(
            f"A CAP {message.msg_type} message changes no warning; send Alert, Update or Cancel.",
            errors=[{"loc": ["body", "alert", "msgType"], "msg": f"msgType {message.msg_type} is not taken"}],
        )
    known = await find_warning(session, sender, message.sender, message.identifier)
    if known is not None:  # the same scope check as a new one: another county's alert is not yours to read
        _ensure_own_alert(principal, known)
        return known, "duplicate"
    row = await _claim(session, message, actor=principal.name, now=now)
    if row is None:  # the same message, taken by another request that committed meanwhile
        known = await find_warning(session, sender, message.sender, message.identifier)
        if known is None:
            raise Conflict("This alert is being taken by another request; retry in a moment.")
        _ensure_own_alert(principal, known)
        return known, "duplicate"
    warning: Warning
    outcome: Outcome
    if message.msg_type == "Cancel":
        kind, reason = mapping.cancel_of(message)
        target = await referenced_warning(session, sender, message)
        _ensure_writable(principal, target)
        warning = await lifecycle.cancel_warning(
            session, target, reason=reason, kind=kind, actor=principal.name, now=now
        )
        outcome = "cancelled"
    else:
        mapped = mapping.warning_of(message)
        await _check_regions(session, mapped)
        if message.msg_type == "Update":
            target = await referenced_warning(session, sender, message)
            _ensure_writable(principal, target)
            warning = await lifecycle.update_warning(
                session, target, mapped.data, principal=principal, now=now, fanout_above=fanout_above
            )
            outcome = "updated"
        else:
            warning, _ = await warning_service.issue_warning(
                session, mapped.data, principal=principal, idempotency_key=None, now=now, fanout_above=fanout_above
            )
            outcome = "created"
    row.warning_id = warning.id
    await session.flush()
    await audit_service.record_event(
        session,
        audit_service.Event(
            type="cap.received",
            actor=principal.name,
            warning_id=warning.id,
            data={
                "sender": message.sender,
                "identifier": message.identifier,
                "sent": message.sent.isoformat(),
                "msg_type": message.msg_type,
                "status": message.status,
                "references": [f"{r.sender},{r.identifier},{r.sent}" for r in message.references],
                # Schema slips it was taken despite (elements out of order, elements unknown to CAP).
                **({"deviations": message.deviations} if message.deviations else {}),
            },
        ),
        chain=audit_service.warning_chain(warning.id),
        now=now,
    )
    return warning, outcome
