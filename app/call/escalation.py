"""Escalation: regions nobody has answered for go up the chain, to whoever must go and wake them.

The chase (call.chase) escalates, in the transaction that closes a warning's overdue calls:

- a region still unreached when its alert calls go unanswered, and an uncovered region at once
  (see fanout.expand), goes to the contacts who supervise it, else to the nearest office above it
  that has anyone to answer (a township, then the county): its duty officer on shift (and, for a
  red warning, the shift's leader too), or, with nobody on duty, its rank-1 contacts;
- an escalation call that goes unanswered sends its regions up again, routed from the
  supervisor's own region the same way;
- never above the county unless the policy says so; where nobody is left, the region is marked
  `unreachable` for the duty officer.

Each supervisor has at most one open escalation call per warning: regions that go unreached
later are added to it and its next attempt is brought forward, so the supervisor hears the new
list at once.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.bulk import bulk_insert
from app.call import metrics as call_metrics
from app.call import routing, tokens
from app.db import chunks
from app.ids import new_id
from app.models.call import IS_ESCALATION, IS_OPEN, Call, CallToken
from app.models.call import priority as call_priority
from app.models.warning import Warning, WarningRegion
from app.policy.snapshot import PolicySnapshot


@dataclass(frozen=True)
class Item:
    """One region to escalate: `route` is the region whose supervisors (or whose parents) are asked."""

    region: str
    route: str
    escalated_from: str | None


async def escalate(
    session: AsyncSession, warning: Warning, items: list[Item], *, now: datetime
) -> list[audit_service.Event]:
    """Escalate regions of one warning (its row locked by the caller); returns the events to record."""
    if not items:
        return []
    targets = await routing.recipients(
        session,
        {item.route for item in items},
        above_county=PolicySnapshot.of(warning.policy).escalate_above_county,
        with_leader=warning.level == "red",
        now=now,
    )
    by_contact: dict[str, list[Item]] = defaultdict(list)
    contacts: dict[str, dict[str, Any]] = {}
    nobody: list[Item] = []
    for item in items:
        found = targets.get(item.route, [])
        if not found:
            nobody.append(item)
        for contact in found:
            contacts[contact["id"]] = contact
            by_contact[contact["id"]].append(item)
    events = await _mark_unreachable(session, warning, nobody, now=now)
    open_calls = await _open_escalations(session, warning, sorted(by_contact))
    new_calls: list[dict[str, Any]] = []
    for contact_id in sorted(by_contact):
        contact, named = contacts[contact_id], by_contact[contact_id]
        codes = sorted({item.region for item in named})
        existing = open_calls.get(contact_id)
        if existing is not None:
            added = _add_regions(existing, codes, named, now)
            if not added:
                continue
            call_id, codes = existing.id, added
        else:
            call_id = new_id()
            new_calls.append(_escalation_call(warning, contact, call_id, codes, named, now))
        events.append(_escalated(warning, contact, call_id, codes, named, added=existing is not None))
    await session.flush()
    await _store(session, new_calls)
    await _mark_escalated(
        session, warning, sorted({item.region for item in items} - {item.region for item in nobody}), now
    )
    return events


async def _open_escalations(session: AsyncSession, warning: Warning, contact_ids: list[str]) -> dict[str, Call]:
    """The open escalation calls of the warning to these people, by person."""
    open_calls: dict[str, Call] = {}
    for chunk in chunks(contact_ids):
        # Locked by the chase (or new with the warning at issue) and read again, so an answer
        # committed meanwhile is seen: regions are never added to a call already answered.
        query = (
            select(Call)
            .where(Call.warning_id == warning.id, IS_ESCALATION, IS_OPEN, Call.contact_id.in_(chunk))
            .execution_options(populate_existing=True)
        )
        open_calls.update((call.contact_id, call) for call in await session.scalars(query))
    return open_calls


def _add_regions(existing: Call, codes: list[str], named: list[Item], now: datetime) -> list[str]:
    """The regions added to an open escalation call (none: it names them all already); the
    supervisor is told the longer list now."""
    added = [code for code in codes if code not in existing.about_region_codes]
    if not added:
        return []
    existing.about_region_codes = sorted({*existing.about_region_codes, *added})
    existing.next_attempt_at = now
    origins = sorted(item.escalated_from for item in named if item.escalated_from)
    if origins and (existing.escalated_from is None or origins[0] < existing.escalated_from):
        existing.escalated_from = origins[0]
    return added


def _escalated(
    warning: Warning, contact: dict[str, Any], call_id: str, codes: list[str], named: list[Item], *, added: bool
) -> audit_service.Event:
    origins = sorted(item.escalated_from for item in named if item.escalated_from)
    return audit_service.Event(
        type="call.escalated", actor="scheduler", warning_id=warning.id, call_id=call_id,
        region_code=contact["region_code"],
        data={"about_region_codes": codes, "to": {"contact_id": contact["id"], "name": contact["name"],
              "phone": contact["phone"], "region_code": contact["region_code"]},
              "escalated_from": origins[0] if origins else None, "added": added,
              **routing.why(contact)},
    )  # fmt: skip


async def _store(session: AsyncSession, new_calls: list[dict[str, Any]]) -> None:
    """The new escalation calls and their link tokens."""
    await bulk_insert(session, Call, new_calls)
    secret = tokens.instance_secret()
    await bulk_insert(session, CallToken, [tokens.token_row(secret, call["id"]) for call in new_calls])
    call_metrics.CALLS_CREATED.labels("escalation").inc(len(new_calls))


async def _mark_escalated(session: AsyncSession, warning: Warning, escalated: list[str], now: datetime) -> None:
    """The regions sent up the chain, marked so (once)."""
    call_metrics.REGIONS_ESCALATED.inc(len(escalated))
    for chunk in chunks(escalated):
        await session.execute(
            update(WarningRegion)
            .where(
                WarningRegion.warning_id == warning.id,
                WarningRegion.region_code.in_(chunk),
                WarningRegion.escalated_at.is_(None),
            )
            .values(escalated_at=now)
        )


def _escalation_call(
    warning: Warning,
    contact: dict[str, Any],
    call_id: str,
    codes: list[str],
    named: list[Item],
    now: datetime,
) -> dict[str, Any]:
    origins = sorted(item.escalated_from for item in named if item.escalated_from)
    return {
        "id": call_id,
        "warning_id": warning.id,
        "kind": "escalation",
        "priority": call_priority(warning.level, "escalation", retry=False),
        "contact_id": contact["id"],
        "contact_name": contact["name"],
        "contact_phone": contact["phone"],
        "contact_region_code": contact["region_code"],
        "contact_role": contact["role"],
        "contact_rank": contact["rank"],
        "channels": contact["channels"],
        "region_codes": [contact["region_code"]],
        "about_region_codes": codes,
        "escalated_from": origins[0] if origins else None,
        "status": "pending" if warning.mode != "test" else "cancelled",
        "attempts": 0,
        "next_attempt_at": now if warning.mode != "test" else None,
        "deadline_at": PolicySnapshot.of(warning.policy).deadline(now),
        "created_at": now,
        "closed_at": None if warning.mode != "test" else now,
        "late": False,
        "feedback_count": 0,
    }


async def _mark_unreachable(
    session: AsyncSession, warning: Warning, items: list[Item], *, now: datetime
) -> list[audit_service.Event]:
    """Regions nobody is left to call about: marked for the duty officer, who can confirm them."""
    marked: list[str] = []
    for chunk in chunks(sorted({item.region for item in items})):
        result = await session.execute(
            update(WarningRegion)
            .where(
                WarningRegion.warning_id == warning.id,
                WarningRegion.region_code.in_(chunk),
                WarningRegion.state.in_(("unreached", "uncovered")),
            )
            .values(state="unreachable")
            .returning(WarningRegion.region_code)
        )
        marked.extend(result.scalars())
    call_metrics.REGIONS_UNREACHABLE.inc(len(marked))
    return [
        audit_service.Event(type="region.unreachable", actor="scheduler", warning_id=warning.id, region_code=code,
                            data={"reason": "nobody left to call above it"})
        for code in sorted(marked)
    ]  # fmt: skip
