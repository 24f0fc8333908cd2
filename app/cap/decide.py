"""Deciding what a CAP message does: issue, update or cancel warnings, or be recorded beside those in force."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import Principal
from app.cap import chain, mapping
from app.cap.allowed import ensure_own_alert
from app.cap.identity import Sender
from app.cap.parse import Message
from app.cap.received import Outcome, find_warnings
from app.errors import Unprocessable
from app.models.cap import CapAlert
from app.models.region import Region
from app.models.warning import OPEN_STATUSES, Warning
from app.notify.base import Plan
from app.warning import lifecycle
from app.warning import service as warning_service


@dataclass
class Decision:
    """What a message does: its outcome, the warnings it made or changed (one per level it states;
    or those in force it was recorded beside), and what the record should say of it."""

    warnings: list[Warning]
    outcome: Outcome
    notes: dict[str, Any] = field(default_factory=dict)


async def decide(
    session: AsyncSession,
    message: Message,
    *,
    sender: Sender,
    principal: Principal,
    now: datetime,
    fanout_above: int,
    plan: Plan,
) -> Decision:
    """Act on a new Alert, Update or Cancel, settling messages out of order as cap.service.receive_alert says."""
    overtaking = None if message.msg_type == "Cancel" else await chain.overtaken_by(session, message, principal)
    if overtaking is not None:
        return await _overtaken(session, message, overtaking, sender=sender, principal=principal, plan=plan, now=now)
    if message.msg_type == "Alert":
        issued = await _issue(session, message, principal=principal, now=now, fanout_above=fanout_above)
        return Decision(issued, "created")
    targets = await chain.referenced_warnings(session, sender, message)
    if not targets:
        unresolved = {"unresolved_references": [f"{r.sender},{r.identifier},{r.sent}" for r in message.references]}
        if message.msg_type == "Cancel":  # nothing here to cancel
            return Decision([], "recorded", {**unresolved, "why": "its alert was never received here"})
        # An Update is a complete message: the people it names are called, whatever came before.
        issued = await _issue(session, message, principal=principal, now=now, fanout_above=fanout_above)
        return Decision(issued, "created", unresolved)
    for target in targets:
        warning_service.ensure_writable(principal, target)  # an Update or Cancel changes only its own
    open_ = [target for target in targets if target.status in OPEN_STATUSES]
    if message.sent < await chain.last_said(session, open_ or targets):
        why = f"sent before what already changed warning {', '.join(t.id for t in targets)}"
        return Decision(targets, "recorded", {"why": why})
    if message.msg_type == "Cancel":
        kind, reason = mapping.cancel_of(message)
        cancelled = [
            await lifecycle.cancel_warning(
                session, target, reason=reason, kind=kind, actor=principal.name, plan=plan, now=now
            )
            for target in open_ or targets[-1:]  # none open: the newest, which answers that it is closed
        ]
        return Decision(cancelled, "cancelled")
    if open_:
        updates = [mapped.data for mapped in await _described(session, message, now=now)]
        updated = await lifecycle.supersede(
            session, open_, updates, principal=principal, now=now, fanout_above=fanout_above, plan=plan
        )
        return Decision(updated, "updated")
    newest = targets[-1]
    closed = await chain.closed_at(session, newest)
    if closed is not None and message.sent <= closed:  # the Cancel wins a tie
        return Decision(targets, "recorded", {"why": f"sent before warning {newest.id} was cancelled"})
    # News after the warning ended (it expired, or was cancelled before this was sent): a new one.
    issued = await _issue(session, message, principal=principal, now=now, fanout_above=fanout_above)
    return Decision(issued, "created", {"follows": newest.id})


async def _overtaken(
    session: AsyncSession,
    message: Message,
    overtaking: CapAlert,
    *,
    sender: Sender,
    principal: Principal,
    plan: Plan,
    now: datetime,
) -> Decision:
    """The Update or Cancel naming the message came first: nothing to call anyone about. It is
    recorded beside the warnings in force."""
    in_force = await chain.in_force(session, await find_warnings(session, sender, overtaking.sender,
                                                                 overtaking.identifier))  # fmt: skip
    for warning in in_force:
        ensure_own_alert(principal, warning)
    # What it updated, still open (the chain had a gap: the newer message was issued as new),
    # gives way to the warnings in force now.
    behind = [w for w in await chain.referenced_warnings(session, sender, message) if w.status in OPEN_STATUSES]
    behind = [w for w in behind if w.id not in {current.id for current in in_force}]
    open_now = [w for w in in_force if w.status in OPEN_STATUSES]
    if behind and open_now:
        await lifecycle.retire(session, behind, open_now, actor=principal.name, plan=plan, now=now)
    why = f"arrived after the {overtaking.msg_type} {overtaking.identifier} that names it"
    return Decision(in_force, "recorded", {"why": why, **({"superseded": [w.id for w in behind]} if behind and
                                                           open_now else {})})  # fmt: skip


async def _check_regions(session: AsyncSession, mapped: mapping.Mapped, problems: mapping.Problems) -> None:
    """Each geocode that is no region here (or an abolished one), where the alert has it."""
    codes = list(mapped.code_locs)
    found = {r.code: r for r in await session.scalars(select(Region).where(Region.code.in_(codes)))}
    errors = [
        {"loc": mapped.code_locs[code], "msg": f"region {code} is {'abolished' if code in found else 'unknown'}"}
        for code in codes
        if code not in found or found[code].abolished
    ]
    if errors:
        named = "; ".join(str(error["msg"]) for error in errors)
        problems.add(Unprocessable(f"The alert's areas name regions that cannot be warned: {named}", errors=errors))


async def _described(session: AsyncSession, message: Message, *, now: datetime) -> list[mapping.Mapped]:
    """The warnings the message describes (one per level); a 422 naming every problem at once
    (its mapping, its regions, an expiry already past)."""
    problems = mapping.Problems()
    warnings = mapping.warnings_of(message, problems)
    for mapped in warnings:
        await _check_regions(session, mapped, problems)
    expires = warnings[0].data.expires
    if expires is not None and expires <= now:
        where = next(
            (["body", "alert", "info", info.index, "expires"] for info in message.infos if info.expires), ["body"]
        )
        problems.add(
            Unprocessable(
                f"The alert expired at {expires.isoformat()}, before it was received: nobody is called about it",
                errors=[{"loc": where, "msg": "expires is already past"}],
            )
        )
    problems.raise_if_any()
    return warnings


async def _issue(
    session: AsyncSession, message: Message, *, principal: Principal, now: datetime, fanout_above: int
) -> list[Warning]:
    """A warning per level the message states."""
    issued = []
    for mapped in await _described(session, message, now=now):
        warning, _ = await warning_service.issue_warning(
            session, mapped.data, principal=principal, idempotency_key=None, now=now, fanout_above=fanout_above
        )
        issued.append(warning)
    return issued
