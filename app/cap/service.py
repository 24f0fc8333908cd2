"""Taking in CAP alerts: Alert issues a warning, Update supersedes and Cancel cancels the warning
its `references` name, through the same services as the JSON API (scope, fan-out and audit shared).

The message's sender and identifier are claimed first, in the same transaction: a second copy,
even one arriving at the same moment, waits for the first and then answers with its warning.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.auth.service import Principal
from app.cap import identity, mapping
from app.cap.identity import Sender
from app.cap.parse import Message
from app.db import dialect_insert
from app.errors import Conflict, Forbidden, Unprocessable
from app.models.cap import CapAlert, CapAlertWarning, CapReference
from app.models.region import Region
from app.models.warning import OPEN_STATUSES, Warning
from app.warning import lifecycle
from app.warning import service as warning_service

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


async def _claim(session: AsyncSession, message: Message, *, principal: Principal, now: datetime) -> CapAlert | None:
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


def _ensure_own_alert(principal: Principal, warning: Warning) -> None:
    """An alert already taken is answered only to a caller who could have posted it (its warning
    is not named to anyone else)."""
    if not all(principal.covers(path) for path in warning.area_paths):
        raise Forbidden(f"The alert's areas lie outside your key's region {principal.region_code}.")


def _ensure_writable(principal: Principal, warning: Warning) -> None:
    if not all(principal.covers(path) for path in warning.area_paths):
        raise Forbidden(f"Warning {warning.id} reaches beyond your key's region {principal.region_code}.")


def _references_required(message: Message) -> None:
    if not message.references:
        raise Unprocessable(
            f"An {message.msg_type} must name the alert it changes in <references>.",
            errors=[{"loc": ["body", "alert", "references"], "msg": "missing"}],
        )


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


async def _last_said(session: AsyncSession, warnings: list[Warning]) -> datetime:
    """When the latest message that made or changed any of the warnings was sent (their issue time
    where no CAP message did)."""
    said = [await session.scalar(_said_by(warning.id, APPLIED)) or warning.created_at for warning in warnings]
    return max(said)


async def _closed_at(session: AsyncSession, warning: Warning) -> datetime | None:
    """When a cancelled warning was cancelled, as its canceller said it (a CAP Cancel's sent time,
    else the time it was closed here); None for a warning not cancelled (one that expired)."""
    if warning.status != "cancelled":
        return None
    return await session.scalar(_said_by(warning.id, ("cancelled",))) or warning.closed_at


async def _overtaken_by(session: AsyncSession, message: Message, principal: Principal) -> CapAlert | None:
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
        within = candidate.received_within
        own = principal.within
        if within is None or (own is not None and own.startswith(within)):
            return candidate
    return None


async def _store_references(session: AsyncSession, message: Message) -> None:
    named = {(ref.sender[:255], ref.identifier[:255]): ref.sent[:40] for ref in reversed(message.references)}
    rows = [
        {"sender": message.sender, "identifier": message.identifier, "ref_sender": ref_sender,
         "ref_identifier": ref_identifier, "ref_sent": ref_sent}
        for (ref_sender, ref_identifier), ref_sent in named.items()
    ]  # fmt: skip
    if rows:
        await session.execute(dialect_insert(session)(CapReference).values(rows).on_conflict_do_nothing())


@dataclass
class Decision:
    """What a message does: its outcome, the warnings it made or changed (one per level it states;
    or those in force it was recorded beside), and what the record should say of it."""

    warnings: list[Warning]
    outcome: Outcome
    notes: dict[str, Any] = field(default_factory=dict)


async def receive_alert(
    session: AsyncSession,
    message: Message,
    *,
    sender: Sender,
    principal: Principal,
    now: datetime,
    fanout_above: int,
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
    if message.msg_type not in ("Alert", "Update", "Cancel"):
        raise Unprocessable(
            f"A CAP {message.msg_type} message changes no warning; send Alert, Update or Cancel.",
            errors=[{"loc": ["body", "alert", "msgType"], "msg": f"msgType {message.msg_type} is not taken"}],
        )
    if message.msg_type != "Alert":
        _references_required(message)
    await _one_sender_at_a_time(session, message.sender)
    row = None
    known = await _received(session, sender, message)
    if known is None:
        row = await _claim(session, message, principal=principal, now=now)
        if row is None:  # the same message, taken by another request that committed meanwhile
            known = await _received(session, sender, message)
            if known is None:
                raise Conflict("This alert is being taken by another request; retry in a moment.")
    if known is not None:  # the same scope check as a new one: another county's alert is not yours to read
        for warning in known:
            _ensure_own_alert(principal, warning)
        return known, "duplicate"
    assert row is not None
    await _store_references(session, message)
    decision = await _decide(session, message, sender=sender, principal=principal, now=now, fanout_above=fanout_above)
    row.warning_id = decision.warnings[0].id if decision.warnings else None
    row.outcome = decision.outcome
    if decision.outcome in ("created", "updated"):  # the bureau's message each warning came from
        for warning in decision.warnings:
            warning.cap_source = {"sender": message.sender, "identifier": message.identifier,
                                  "sent": message.sent.isoformat()}  # fmt: skip
    await session.flush()
    await _link(session, [(message.sender, message.identifier)], decision.warnings)
    if decision.outcome == "created" and message.msg_type == "Update":
        # The messages it names, never received or ended, lead to it now: an Update or Cancel
        # naming only them later finds the warning in force.
        await _link(session, [(ref.sender, ref.identifier) for ref in message.references], decision.warnings)
    several = {"warnings": [warning.id for warning in decision.warnings]} if len(decision.warnings) > 1 else {}
    for each in decision.warnings or (None,):
        await _record(session, message, decision, several, each, actor=principal.name, now=now)
    return decision.warnings, decision.outcome


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


async def _one_sender_at_a_time(session: AsyncSession, sender_name: str) -> None:
    """Messages of one CAP sender are decided one at a time (PostgreSQL: a transaction-scoped
    advisory lock; SQLite's writes are one at a time already): an Alert and its Update arriving
    together each see the other once it is decided."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"), {"name": f"jiaoying.cap:{sender_name}"}
        )


async def _link(session: AsyncSession, messages: list[tuple[str, str]], warnings: list[Warning]) -> None:
    rows = [{"sender": sender_name[:255], "identifier": identifier[:255], "warning_id": warning.id}
            for sender_name, identifier in dict.fromkeys(messages) for warning in warnings]  # fmt: skip
    if rows:
        await session.execute(dialect_insert(session)(CapAlertWarning).values(rows).on_conflict_do_nothing())


async def _received(session: AsyncSession, sender: Sender, message: Message) -> list[Warning] | None:
    """A message already taken: its warnings (none for one recorded without); None if it is new."""
    row = await session.get(CapAlert, (message.sender, message.identifier))
    if row is not None and row.outcome is not None:
        return await find_warnings(session, sender, message.sender, message.identifier)
    own = await identity.own_warning(session, sender, message.sender, message.identifier)
    return [own] if own is not None else None


async def _in_force(session: AsyncSession, warnings: list[Warning]) -> list[Warning]:
    """Each warning followed to the one in force now (an update of an update)."""
    found: dict[str, Warning] = {}
    for warning in warnings:
        current: Warning | None = warning
        while current is not None and current.superseded_by is not None:
            current = await session.get(Warning, current.superseded_by)
        if current is not None:
            found[current.id] = current
    return list(found.values())


async def _decide(
    session: AsyncSession, message: Message, *, sender: Sender, principal: Principal, now: datetime, fanout_above: int
) -> Decision:
    overtaking = None if message.msg_type == "Cancel" else await _overtaken_by(session, message, principal)
    if overtaking is not None:
        # The Update or Cancel naming it came first: nothing to call anyone about.
        in_force = await _in_force(session, await find_warnings(session, sender, overtaking.sender,
                                                                overtaking.identifier))  # fmt: skip
        for warning in in_force:
            _ensure_own_alert(principal, warning)
        # What it updated, still open (the chain had a gap: the newer message was issued as new),
        # gives way to the warnings in force now.
        behind = [w for w in await referenced_warnings(session, sender, message) if w.status in OPEN_STATUSES]
        behind = [w for w in behind if w.id not in {current.id for current in in_force}]
        open_now = [w for w in in_force if w.status in OPEN_STATUSES]
        if behind and open_now:
            await lifecycle.retire(session, behind, open_now, actor=principal.name, now=now)
        why = f"arrived after the {overtaking.msg_type} {overtaking.identifier} that names it"
        return Decision(in_force, "recorded", {"why": why, **({"superseded": [w.id for w in behind]} if behind and
                                                               open_now else {})})  # fmt: skip
    if message.msg_type == "Alert":
        issued = await _issue(session, message, principal=principal, now=now, fanout_above=fanout_above)
        return Decision(issued, "created")
    targets = await referenced_warnings(session, sender, message)
    if not targets:
        unresolved = {"unresolved_references": [f"{r.sender},{r.identifier},{r.sent}" for r in message.references]}
        if message.msg_type == "Cancel":  # nothing here to cancel
            return Decision([], "recorded", {**unresolved, "why": "its alert was never received here"})
        # An Update is a complete message: the people it names are called, whatever came before.
        issued = await _issue(session, message, principal=principal, now=now, fanout_above=fanout_above)
        return Decision(issued, "created", unresolved)
    for target in targets:
        _ensure_writable(principal, target)
    open_ = [target for target in targets if target.status in OPEN_STATUSES]
    if message.sent < await _last_said(session, open_ or targets):
        why = f"sent before what already changed warning {', '.join(t.id for t in targets)}"
        return Decision(targets, "recorded", {"why": why})
    if message.msg_type == "Cancel":
        kind, reason = mapping.cancel_of(message)
        cancelled = [
            await lifecycle.cancel_warning(session, target, reason=reason, kind=kind, actor=principal.name, now=now)
            for target in open_ or targets[-1:]  # none open: the newest, which answers that it is closed
        ]
        return Decision(cancelled, "cancelled")
    if open_:
        updates = [mapped.data for mapped in await _mapped(session, message, now=now)]
        updated = await lifecycle.supersede(
            session, open_, updates, principal=principal, now=now, fanout_above=fanout_above
        )
        return Decision(updated, "updated")
    newest = targets[-1]
    closed = await _closed_at(session, newest)
    if closed is not None and message.sent <= closed:  # the Cancel wins a tie
        return Decision(targets, "recorded", {"why": f"sent before warning {newest.id} was cancelled"})
    # News after the warning ended (it expired, or was cancelled before this was sent): a new one.
    issued = await _issue(session, message, principal=principal, now=now, fanout_above=fanout_above)
    return Decision(issued, "created", {"follows": newest.id})


async def _mapped(session: AsyncSession, message: Message, *, now: datetime) -> list[mapping.Mapped]:
    """The warnings the message describes (one per level); a 422 naming every problem at once
    (its mapping, its regions, an expiry already past)."""
    problems = mapping.Problems()
    described = mapping.warnings_of(message, problems)
    for mapped in described:
        await _check_regions(session, mapped, problems)
    expires = described[0].data.expires
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
    return described


async def _issue(
    session: AsyncSession, message: Message, *, principal: Principal, now: datetime, fanout_above: int
) -> list[Warning]:
    """A warning per level the message states."""
    issued = []
    for mapped in await _mapped(session, message, now=now):
        warning, _ = await warning_service.issue_warning(
            session, mapped.data, principal=principal, idempotency_key=None, now=now, fanout_above=fanout_above
        )
        issued.append(warning)
    return issued
