"""Fan-out: a warning's areas expanded to the targeted regions and one alert call per person.

Set-based: two queries (the targeted regions, and the active contacts on them), grouping in
Python, then bulk writes of regions, calls and events, all in the issuing transaction: when the
201 returns every call is stored, its first attempt due at once (the sender's outbox, see
notify.sender), and a crash before it stores nothing.
"""

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, distinct, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.bulk import bulk_insert
from app.call import escalation, tokens
from app.call import metrics as call_metrics
from app.db import core_rows, fetch_rows
from app.ids import new_ids
from app.models.call import Call, CallToken
from app.models.call import priority as call_priority
from app.models.contact import Contact
from app.models.region import Region, subtree_filter
from app.models.warning import Warning, WarningRegion
from app.policy.snapshot import PolicySnapshot

# Why a dry run is closed as soon as it is stored.
DRY_RUN = "dry run (mode test): calls stored, nothing sent"


@dataclass
class Person:
    """Everyone on the roster with one phone number, over all the targeted regions they answer for."""

    contact: dict[str, Any]
    region_codes: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)


def targeted_regions_query(area_paths: list[str], reach: list[str]) -> Select[Any]:
    """Regions under the areas (the areas included) at the policy's reach levels, not abolished, in
    tree order."""
    return (
        select(Region.code, Region.name, Region.level, Region.parent_code, Region.path)
        .where(or_(*(subtree_filter(Region.path, path) for path in area_paths)))
        .where(Region.level.in_(reach), Region.abolished.is_(False))
        .order_by(Region.path)
    )


async def targeted_regions(session: AsyncSession, area_paths: list[str], reach: list[str]) -> list[dict[str, Any]]:
    """The targeted regions: code, name, level and parent_code of each."""
    rows = (await core_rows(session, targeted_regions_query(area_paths, reach))).tuples()
    return [
        {"code": code, "name": name, "level": level, "parent_code": parent} for code, name, level, parent, _ in rows
    ]


def on_roster(query: Select[Any], area_paths: list[str], reach: list[str]) -> Select[Any]:
    """Restrict a query on contacts to the active ones of the targeted regions (what `people` calls)."""
    return (
        query.join(Region, Region.code == Contact.region_code)
        .where(or_(*(subtree_filter(Region.path, path) for path in area_paths)))
        .where(Region.level.in_(reach), Region.abolished.is_(False), Contact.active.is_(True))
    )


def people_query(area_paths: list[str], reach: list[str]) -> Select[Any]:
    """The roster rows of the targeted regions in phone order (the third column is the phone)."""
    columns = select(
        Contact.id, Contact.name, Contact.phone, Contact.region_code, Contact.role, Contact.rank, Contact.channels
    )
    return on_roster(columns, area_paths, reach).order_by(Contact.phone, Contact.rank, Contact.region_code)


def group_people(rows: Iterable[Sequence[Any]]) -> dict[str, Person]:
    """One entry per phone (its lowest-rank row first), over every targeted region it answers for."""
    found: dict[str, Person] = {}
    # People with the same channels share one list, written once (see bulk.bulk_insert).
    shared: dict[tuple[str, ...], list[str]] = {}
    for contact_id, name, phone, region_code, role, rank, channels in rows:
        person = found.get(phone)
        if person is None:
            contact = {"id": contact_id, "name": name, "phone": phone, "region_code": region_code, "role": role,
                       "rank": rank}  # fmt: skip
            channels = shared.setdefault(tuple(channels), channels)
            found[phone] = Person(contact=contact, region_codes=[region_code], channels=channels)
            continue
        if region_code not in person.region_codes:
            person.region_codes.append(region_code)
        person.channels = person.channels + [c for c in channels if c not in person.channels]
    return found


async def people(session: AsyncSession, area_paths: list[str], reach: list[str]) -> dict[str, Person]:
    """Active contacts of the targeted regions, one entry per phone (lowest rank first)."""
    return group_people(await fetch_rows(session, people_query(area_paths, reach)))


@dataclass
class Preview:
    """A fan-out computed and not stored: what issuing would target and call."""

    regions: list[dict[str, Any]]  # the targeted regions (code, name, level, parent_code), by path
    calls: int  # alert calls: one per distinct phone
    uncovered: list[dict[str, Any]]  # targeted regions with no active contact


async def preview(session: AsyncSession, area_paths: list[str], reach: list[str]) -> Preview:
    """The dry run of `expand`: the same targeted regions and roster, counted in SQL; reads only."""
    regions = await targeted_regions(session, area_paths, reach)
    phones = on_roster(select(func.count(distinct(Contact.phone))), area_paths, reach)
    calls = (await core_rows(session, phones)).scalar()
    with_people = on_roster(select(distinct(Contact.region_code)), area_paths, reach)
    covered = set((await core_rows(session, with_people)).scalars())
    uncovered = [region for region in regions if region["code"] not in covered]
    return Preview(regions=regions, calls=calls or 0, uncovered=uncovered)


async def expand(session: AsyncSession, warning: Warning, *, actor: str, now: datetime) -> int:
    """Store the warning's targeted regions, alert calls and events; returns the number of calls."""
    reach = list(PolicySnapshot.of(warning.policy).reach)
    regions = await targeted_regions(session, warning.area_paths, reach)
    by_phone = await people(session, warning.area_paths, reach)
    covered = {code for person in by_phone.values() for code in person.region_codes}
    uncovered = [region["code"] for region in regions if region["code"] not in covered]
    warning.targeted_regions = len(regions)
    warning.uncovered_area_codes = uncovered
    chain = await audit_service.open_chain(session, audit_service.warning_chain(warning.id), now=now)
    chain.add(issued_event(warning, actor=actor, calls=len(by_phone), regions=len(regions), uncovered=uncovered))
    await bulk_insert(session, WarningRegion, region_rows(warning.id, regions, covered))
    await store_calls(session, warning, by_phone, chain.add, actor=actor, now=now)
    settled = await settle(session, warning, calls=len(by_phone), uncovered=uncovered, actor=actor, now=now)
    await chain.write(session, settled)
    return len(by_phone)


def issued_event(
    warning: Warning, *, actor: str, calls: int | None, regions: int | None, uncovered: list[str] | None
) -> audit_service.Event:
    """`warning.issued`; a warning expanded in steps (see warning.expansion) is issued before its
    regions are counted, and says how many people it will call."""
    return audit_service.Event(
        type="warning.issued",
        actor=actor,
        warning_id=warning.id,
        data={
            "hazard": warning.hazard,
            "level": warning.level,
            "title": warning.title,
            "mode": warning.mode,
            "area_codes": warning.area_codes,
            "policy": warning.policy,
            "calls": calls,
            "targeted_regions": regions,
            "uncovered_area_codes": uncovered,
        },
    )


async def settle(
    session: AsyncSession, warning: Warning, *, calls: int, uncovered: list[str], actor: str, now: datetime
) -> list[audit_service.Event]:
    """What follows once every call is stored: a dry run (mode `test`) closes them all and is itself
    stored `cancelled` at once, never active; uncovered regions escalate at once where the policy
    escalates (a hole in the roster is a finding)."""
    if warning.mode == "test":
        warning.status, warning.closed_at, warning.close_kind = "cancelled", now, "test"
        warning.close_reason = DRY_RUN
        return [
            audit_service.Event(
                type="call.cancelled", actor=actor, warning_id=warning.id, data={"reason": "test", "calls": calls}
            ),
            audit_service.Event(
                type="warning.cancelled", actor=actor, warning_id=warning.id, data={"kind": "test", "reason": DRY_RUN}
            ),
        ]
    if PolicySnapshot.of(warning.policy).escalate and uncovered:
        items = [escalation.Item(region=code, route=code, escalated_from=None) for code in uncovered]
        return await escalation.escalate(session, warning, items, now=now)
    return []


async def store_calls(
    session: AsyncSession,
    warning: Warning,
    by_phone: dict[str, Person],
    add_event: Callable[[audit_service.Event], None],
    *,
    actor: str,
    now: datetime,
) -> None:
    """Store one alert call per person (their first attempt due now, the deadline the warning's),
    handing each `call.created` event to `add_event` as its call streams (a Chain's add hashes it
    then, while the database stores the calls before it)."""
    sends = warning.mode != "test"
    deadline = PolicySnapshot.of(warning.policy).deadline(warning.created_at)
    secret = tokens.instance_secret()
    common = {
        "warning_id": warning.id, "kind": "alert", "priority": call_priority(warning.level, "alert", retry=False),
        "about_region_codes": [], "status": "pending" if sends else "cancelled", "attempts": 0,
        # The first attempt is due now: the call row is the sender's outbox entry (notify.sender).
        "next_attempt_at": now if sends else None, "deadline_at": deadline, "created_at": now,
        "closed_at": None if sends else now, "late": False, "feedback_count": 0,
    }  # fmt: skip
    deadline_text = deadline.isoformat()
    token_rows: list[dict[str, str]] = []  # filled as the calls stream, written after them

    def call_rows() -> Iterator[dict[str, Any]]:
        """The calls, built while the COPY streams the ones before (see bulk.bulk_insert)."""
        for (phone, person), call_id in zip(by_phone.items(), new_ids(len(by_phone)), strict=True):
            contact = person.contact
            yield {
                **common, "id": call_id, "contact_id": contact["id"], "contact_name": contact["name"],
                "contact_phone": phone, "contact_region_code": contact["region_code"],
                "contact_role": contact["role"], "contact_rank": contact["rank"], "channels": person.channels,
                "region_codes": person.region_codes,
            }  # fmt: skip
            token_rows.append(tokens.token_row(secret, call_id))
            add_event(audit_service.Event(
                type="call.created", actor=actor, warning_id=warning.id, call_id=call_id,
                region_code=contact["region_code"],
                data={"kind": "alert", "contact_id": contact["id"], "name": contact["name"], "phone": phone,
                      "role": contact["role"], "rank": contact["rank"], "region_codes": person.region_codes,
                      "deadline_at": deadline_text},
            ))  # fmt: skip

    await bulk_insert(session, Call, call_rows())
    await bulk_insert(session, CallToken, token_rows)
    call_metrics.CALLS_CREATED.labels("alert").inc(len(by_phone))


def region_rows(warning_id: str, regions: list[dict[str, Any]], covered: set[str]) -> list[dict[str, Any]]:
    return [
        {
            "warning_id": warning_id,
            "region_code": region["code"],
            "name": region["name"],
            "level": region["level"],
            "parent_code": region["parent_code"],
            "state": "unreached" if region["code"] in covered else "uncovered",
            "reached_at": None,
            "reached_by": None,
        }
        for region in regions
    ]
