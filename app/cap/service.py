"""Taking in CAP alerts: Alert issues a warning, Update supersedes and Cancel cancels the warning
its `references` name, through the same services as the JSON API (scope, fan-out and audit shared).

The message's sender and identifier are claimed first, in the same transaction: a second copy,
even one arriving at the same moment, waits for the first and then answers with its warning.
"""

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.auth.service import Principal
from app.cap import received
from app.cap.allowed import ensure_actionable, ensure_own_alert
from app.cap.db import lock_sender
from app.cap.decide import Decision, decide
from app.cap.identity import Sender
from app.cap.parse import Message
from app.cap.received import Outcome
from app.errors import Conflict
from app.models.cap import CapAlert
from app.models.warning import Warning
from app.notify.base import Plan


async def receive_alert(
    session: AsyncSession,
    message: Message,
    *,
    sender: Sender,
    principal: Principal,
    now: datetime,
    fanout_above: int,
    plan: Plan,
) -> tuple[list[Warning], Outcome]:
    """Act on a CAP message as its msgType says: the warnings it made or changed (the first is the
    one to answer with; a message stating several levels makes one warning per level, and its
    Update or Cancel applies to them all). The same sender and identifier again returns them. An
    Alert or Update above `fanout_above` people is expanded in steps, as issuing is.

    Feeds deliver out of order and services start mid-event, so (issue and tests in
    tests/cap/test_order.py):
    - an Update whose original was never received is a new warning (an Update is complete), the
      references it could not resolve on record; a Cancel of an alert never received is recorded,
      and answered without a warning;
    - an Update of a warning that has closed is a new warning, following it, unless it was sent
      before the Cancel that closed it;
    - a message sent before what already changed its warning, and an Alert or Update arriving
      after an Update or Cancel that names it, change nothing: recorded beside the warning in force.
    """
    ensure_actionable(message)
    await lock_sender(session, message.sender)
    row, known = await _claim(session, message, sender=sender, principal=principal, now=now)
    if known is not None:  # the same scope check as a new one: another county's alert is not yours to read
        for warning in known:
            ensure_own_alert(principal, warning)
        return known, "duplicate"
    assert row is not None
    await received.store_references(session, message)
    decision = await decide(
        session, message, sender=sender, principal=principal, now=now, fanout_above=fanout_above, plan=plan
    )
    row.warning_id = decision.warnings[0].id if decision.warnings else None
    row.outcome = decision.outcome
    if decision.outcome in ("created", "updated"):  # the bureau's message each warning came from
        for warning in decision.warnings:
            warning.cap_source = {"sender": message.sender, "identifier": message.identifier,
                                  "sent": message.sent.isoformat()}  # fmt: skip
    await session.flush()
    await received.link(session, [(message.sender, message.identifier)], decision.warnings)
    if decision.outcome == "created" and message.msg_type == "Update":
        # The messages it names, never received or ended, lead to it now: an Update or Cancel
        # naming only them later finds the warning in force.
        await received.link(session, [(ref.sender, ref.identifier) for ref in message.references], decision.warnings)
    several = {"warnings": [warning.id for warning in decision.warnings]} if len(decision.warnings) > 1 else {}
    for each in decision.warnings or (None,):
        await _record(session, message, decision, several, each, actor=principal.name, now=now)
    return decision.warnings, decision.outcome


async def _claim(
    session: AsyncSession, message: Message, *, sender: Sender, principal: Principal, now: datetime
) -> tuple[CapAlert | None, list[Warning] | None]:
    """The message's row, held for this transaction; or, for a message already taken, its warnings."""
    known = await received.already_received(session, sender, message)
    if known is not None:
        return None, known
    row = await received.claim(session, message, principal=principal, now=now)
    if row is None:  # the same message, taken by another request that committed meanwhile
        known = await received.already_received(session, sender, message)
        if known is None:
            raise Conflict("This alert is being taken by another request; retry in a moment.")
    return row, known


async def _record(
    session: AsyncSession,
    message: Message,
    decision: Decision,
    several: dict[str, Any],
    warning: Warning | None,
    *,
    actor: str,
    now: datetime,
) -> None:
    """`cap.received` on the warning's timeline (the registry's for a message with no warning)."""
    await audit_service.record_event(
        session,
        audit_service.Event(
            type="cap.received",
            actor=actor,
            warning_id=warning.id if warning is not None else None,
            data={
                "sender": message.sender,
                "identifier": message.identifier,
                "sent": message.sent.isoformat(),
                "msg_type": message.msg_type,
                "status": message.status,
                "outcome": decision.outcome,
                "references": [f"{r.sender},{r.identifier},{r.sent}" for r in message.references],
                **decision.notes,
                **several,
                # Schema slips it was taken despite (elements out of order, elements unknown to CAP).
                **({"deviations": message.deviations} if message.deviations else {}),
            },
        ),
        chain=audit_service.warning_chain(warning.id) if warning is not None else audit_service.REGISTRY_CHAIN,
        now=now,
    )
