"""Hazard reports (信息报告): reported, taken (接报), whistled to departments (吹哨), reported in
(报到), resolved and judged by the reporter (末端评价). Each step checked against models.STEPS, and
written to the report's own chain of the record."""

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import i18n
from app.audit import scope as audit_scope
from app.audit import service as audit_service
from app.auth import scope
from app.auth.service import Principal
from app.call import hooks, routing
from app.duty import service as duty_service
from app.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.hazard.calls import make_calls, reporter
from app.hazard.schemas import HazardIn, WhistleIn
from app.i18n import N_
from app.models.audit import AuditEvent
from app.models.call import IS_OPEN, Call
from app.models.contact import Contact
from app.models.department import Department
from app.models.hazard import STATUSES, STEPS, Hazard, HazardDispatch
from app.models.region import Region, subtree_filter
from app.policy import service as policy_service
from app.region import service as region_service

# How long the office has to take a report: minutes for an urgent one (the red ladder), an hour
# for the others (the orange ladder).
TO_RECEIVE_S = {True: 15 * 60, False: 60 * 60}
TO_EVALUATE_S = 7 * 24 * 3600
ACTORS = ("admin", "duty_officer")


def event(hazard: Hazard, type_: str, actor: str, **data: Any) -> audit_service.Event:
    return audit_service.Event(type=type_, actor=actor, hazard_id=hazard.id, region_code=hazard.region_code, data=data)


async def record(session: AsyncSession, hazard: Hazard, events: list[audit_service.Event], now: datetime) -> None:
    await audit_service.record_events(session, events, chain=audit_service.hazard_chain(hazard.id), now=now)


async def get_hazard(session: AsyncSession, hazard_id: str, principal: Principal, *, lock: bool = False) -> Hazard:
    """The report, if its region lies in the caller's subtree; 404 otherwise (403 for a wrong area)."""
    query = select(Hazard).where(Hazard.id == hazard_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    hazard = await session.scalar(query)
    if hazard is None:
        raise NotFound(f"No hazard report has id {hazard_id!r}.")
    region = await region_service.get_region(session, hazard.region_code)
    if not principal.covers(region.path):
        raise Forbidden(f"Hazard report {hazard_id} is outside the region your key is limited to.")
    return hazard


def _ensure_step(hazard: Hazard, step: str) -> None:
    if hazard.status not in STEPS[step]:
        allowed = ", ".join(STEPS[step])
        raise Conflict(f"Hazard report {hazard.id} is {hazard.status}; this step is taken from {allowed}.")


def _ensure_actor(principal: Principal) -> None:
    if principal.role not in ACTORS:
        raise Forbidden(f"This needs a key with role duty_officer or admin; yours is {principal.role}.")


async def _place(session: AsyncSession, region: Region) -> str:
    """Where, as messages say it: the township and village names (乌拉泊街道工人新村社区)."""
    ancestry = await region_service.get_ancestry(session, region)
    below_county = [r.name for r in ancestry if r.level in ("township", "village")]
    return "".join(below_county) or region.name


async def _ladder(session: AsyncSession, urgent: bool) -> dict[str, Any]:
    policy = policy_service.as_dict(await policy_service.get_policy(session, "red" if urgent else "orange"))
    return {**policy, "ack_timeout_s": TO_RECEIVE_S[urgent]}


async def to_office(session: AsyncSession, hazard: Hazard, *, step: str, now: datetime) -> list[audit_service.Event]:
    """Call the office above the report's region (its officer on duty, and for an urgent report the
    shift's leader; else its rank-1 contacts), nearest first, up to the county; a report on a county
    (or where no county stands above, as under 东莞) goes to the level above."""
    region = await region_service.get_region(session, hazard.region_code)
    ancestry = await region_service.get_ancestry(session, region)
    beyond = region.level in ("county", "prefecture", "province") or all(r.level != "county" for r in ancestry)
    found = await routing.recipients(
        session, {hazard.region_code}, above_county=beyond, with_leader=hazard.urgent, now=now, supervisors=False
    )
    people = found.get(hazard.region_code, [])
    if not people:
        return [event(hazard, "hazard.unreachable", "hazard", reason="nobody on record above the region")]
    hazard.office_code = people[0]["region_code"]
    return await make_calls(session, hazard, people, step=step, seconds=TO_RECEIVE_S[hazard.urgent], now=now)


async def report_hazard(
    session: AsyncSession,
    data: HazardIn,
    *,
    actor: str,
    now: datetime,
    principal: Principal | None = None,
    reporter_contact: Contact | None = None,
) -> Hazard:
    """A new report: stored `reported`, and the office above its region called to take it."""
    code = region_service.normalize_code(data.region_code)
    region = await session.get(Region, code) if code else None
    if region is None:
        raise Unprocessable(f"{data.region_code!r} is not a known region code; import the regions first.",
                            errors=[{"loc": ["body", "region_code"], "msg": "unknown region"}])  # fmt: skip
    if principal is not None:
        _ensure_actor(principal)
        if not principal.covers(region.path):
            raise Forbidden(f"Region {region.code} is outside the region your key is limited to.")
    if region.abolished:
        raise Unprocessable(f"Region {region.code} is abolished.", errors=[{"loc": ["body", "region_code"],
                                                                         "msg": "abolished region"}])  # fmt: skip
    hazard = Hazard(
        region_code=region.code, place=await _place(session, region), category=data.category,
        description=data.description, people_at_risk=data.people_at_risk, urgent=data.urgent, source=data.source,
        reporter_name=data.reporter_name or (reporter_contact.name if reporter_contact else None),
        reporter_phone=data.reporter_phone or (reporter_contact.phone if reporter_contact else None),
        reporter_contact_id=reporter_contact.id if reporter_contact else None, status="reported",
        policy=await _ladder(session, data.urgent), created_at=now, created_by=actor,
    )  # fmt: skip
    session.add(hazard)
    await session.flush()
    events = [
        event(hazard, "hazard.reported", actor, category=hazard.category, description=hazard.description,
              urgent=hazard.urgent, source=hazard.source, people_at_risk=hazard.people_at_risk,
              reporter={"name": hazard.reporter_name, "phone": hazard.reporter_phone})
    ]  # fmt: skip
    events += await to_office(session, hazard, step="receive", now=now)
    await record(session, hazard, events, now)
    return hazard


async def _cancel(
    session: AsyncSession, hazard: Hazard, reason: str, now: datetime, *conditions: Any
) -> list[audit_service.Event]:
    closed = (await session.execute(
        update(Call).where(Call.hazard_id == hazard.id, IS_OPEN, *conditions)
        .values(status="cancelled", closed_at=now, next_attempt_at=None)
        .returning(Call.id, Call.contact_region_code)
    )).all()  # fmt: skip
    return [
        audit_service.Event(type="call.cancelled", actor="hazard", hazard_id=hazard.id, call_id=call_id,
                            region_code=code, data={"reason": reason})
        for call_id, code in sorted(closed)
    ]  # fmt: skip


async def whistle(
    session: AsyncSession, hazard: Hazard, data: WhistleIn, *, principal: Principal, now: datetime
) -> Hazard:
    """吹哨: call each department's people (its officer on shift, else its rank-1 contacts) to report
    in by the deadline."""
    _ensure_actor(principal)
    _ensure_step(hazard, "whistle")
    region = await region_service.get_region(session, hazard.region_code)
    above = region.path.split("/")
    departments: list[Department] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    lines: dict[str, int] = {}
    for i, department_id in enumerate(data.department_ids):
        if department_id in seen:
            continue
        seen.add(department_id)
        department = await session.get(Department, department_id)
        lines[department_id] = i
        if department is None or department.region_code not in above:
            errors.append({"loc": ["body", "department_ids", i], "msg": f"{department_id} is not a department "
                           "of the report's county"})  # fmt: skip
        else:
            departments.append(department)
    people = {d.id: await department_people(session, d.id, now=now) for d in departments}
    for department in departments:
        if not people[department.id]:
            errors.append({"loc": ["body", "department_ids", lines[department.id]],
                           "msg": f"{department.name} has nobody on record"})  # fmt: skip
    if errors:
        reasons = "; ".join(str(e["msg"]) for e in errors)
        raise Unprocessable(f"The whistle was not blown: {reasons}.", errors=errors)
    called = [{"id": d.id, "name": d.name} for d in departments]
    events = [event(hazard, "hazard.dispatched", principal.name, instruction=data.instruction,
                    deadline_s=data.deadline_s, departments=called)]  # fmt: skip
    for department in departments:
        session.add(HazardDispatch(
            hazard_id=hazard.id, department_id=department.id, department_name=department.name,
            instruction=data.instruction, created_at=now, deadline_at=now + timedelta(seconds=data.deadline_s),
        ))  # fmt: skip
        events += await make_calls(session, hazard, people[department.id], step="dispatch", seconds=data.deadline_s,
                                   now=now, department_id=department.id)  # fmt: skip
    await session.flush()
    hazard.status, hazard.dispatched_at = "dispatched", hazard.dispatched_at or now
    await record(session, hazard, events, now)
    return hazard


async def department_people(session: AsyncSession, department_id: str, *, now: datetime) -> list[dict[str, Any]]:
    """Who answers for a department: its officer on shift where it keeps a roster, else (or in a gap
    in it) its active contacts of the lowest rank."""
    desks = await duty_service.desks_in_force(session, {department_id}, now, departments=True)
    desk = desks.get(department_id)
    if desk is not None:
        return routing.on_duty(desk, with_leader=False)
    rows = list(await session.scalars(
        select(Contact).where(Contact.department_id == department_id, Contact.active.is_(True))
        .order_by(Contact.rank, Contact.id)
    ))  # fmt: skip
    lowest = rows[0].rank if rows else None
    gap = {"duty_gap": True} if department_id in desks else {}
    return [
        {**{name: getattr(c, name) for name in routing.PERSON}, "via": "rank_1", **gap}
        for c in rows
        if c.rank == lowest
    ]


async def progress(
    session: AsyncSession, hazard: Hazard, status: str, note: str, *, principal: Principal, now: datetime
) -> Hazard:
    """Handling (处置中), or resolved with a note: the open calls end, the reporter is asked to judge."""
    _ensure_actor(principal)
    if status == "handling":
        _ensure_step(hazard, "handling")
        hazard.status = "handling"
        await record(session, hazard, [event(hazard, "hazard.handling", principal.name, note=note)], now)
        return hazard
    _ensure_step(hazard, "resolve")
    if not note.strip():
        raise Unprocessable("Say what was done to resolve the report (note).",
                            errors=[{"loc": ["body", "note"], "msg": "a note is required to resolve"}])  # fmt: skip
    hazard.status, hazard.resolved_at, hazard.resolution = "resolved", now, note
    events = [event(hazard, "hazard.resolved", principal.name, note=note)]
    events += await _cancel(session, hazard, "report resolved", now)
    if hazard.reporter_phone:
        events += await make_calls(session, hazard, [reporter(hazard)], step="evaluate", seconds=TO_EVALUATE_S, now=now)
    await record(session, hazard, events, now)
    return hazard


async def evaluate(
    session: AsyncSession, hazard: Hazard, rating: str, note: str, *, actor: str, now: datetime
) -> Hazard:
    """末端评价: satisfied closes the report (evaluated); unsatisfied reopens it, and the office is
    called to take it again."""
    _ensure_step(hazard, "evaluate")
    hazard.rating, hazard.rating_note, hazard.evaluated_at = rating, note or None, now
    events = [event(hazard, "hazard.evaluated", actor, rating=rating, note=note)]
    events += await _cancel(session, hazard, "evaluated", now, Call.hazard_step == "evaluate")
    if rating == "satisfied":
        hazard.status = "evaluated"
    else:
        hazard.status = "reopened"
        events.append(event(hazard, "hazard.reopened", actor, note=note))
        events += await to_office(session, hazard, step="receive", now=now)
    await record(session, hazard, events, now)
    return hazard


async def on_answered(session: AsyncSession, answered: list[hooks.Answered], now: datetime) -> None:
    """A call about a report answered: the office's is 接报 (the report received), a department's
    is its 报到; the others of the same step stop."""
    for answer in answered:
        call = await session.get_one(Call, answer.call_id)
        hazard = await session.scalar(
            select(Hazard)
            .where(Hazard.id == call.hazard_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if hazard is None:
            continue
        events: list[audit_service.Event] = []
        if call.hazard_step == "dispatch":
            events += await _reported_in(session, hazard, call, answer, now)
        elif call.hazard_step == "escalate" and call.department_id:  # the county's officer took on 督办
            events.append(event(hazard, "hazard.escalation_taken", answer.actor, call_id=call.id,
                                department_id=call.department_id, method=answer.method))  # fmt: skip
        elif call.hazard_step in ("receive", "escalate"):
            taking = hazard.status in STEPS["receive"] or hazard.received_at is None
            if taking:
                if hazard.status in STEPS["receive"]:
                    hazard.status = "received"
                hazard.received_at = hazard.received_at or now
                received = event(hazard, "hazard.received", answer.actor, call_id=call.id, method=answer.method)
                events.append(received)
                same_step = (Call.hazard_step.in_(("receive", "escalate")), Call.department_id.is_(None))
                events += await _cancel(session, hazard, f"taken by {answer.actor}", now, *same_step)
        await record(session, hazard, events, now)


async def _reported_in(
    session: AsyncSession, hazard: Hazard, call: Call, answer: hooks.Answered, now: datetime
) -> list[audit_service.Event]:
    dispatch = await session.scalar(
        select(HazardDispatch)
        .where(HazardDispatch.hazard_id == hazard.id, HazardDispatch.department_id == call.department_id)
        .order_by(HazardDispatch.id.desc())
        .limit(1)
    )
    if dispatch is None or dispatch.reported_in_at is not None:
        return []
    dispatch.reported_in_at = now
    late = now > dispatch.deadline_at
    events = [event(hazard, "hazard.reported_in", answer.actor, department_id=call.department_id,
                    department=dispatch.department_name, call_id=call.id, method=answer.method, late=late)]  # fmt: skip
    events += await _cancel(session, hazard, f"{dispatch.department_name} reported in", now,
                            Call.department_id == call.department_id)  # fmt: skip
    return events


async def list_hazards(
    session: AsyncSession,
    *,
    principal: Principal,
    status: str | None,
    region_code: str | None,
    since: datetime | None,
    limit: int,
    cursor: str | None,
) -> list[Hazard]:
    """Reports in a subtree (the caller's, or `region_code` inside it), newest first."""
    path = principal.within
    if region_code is not None:
        region = await region_service.get_region(session, region_code)
        if not principal.covers(region.path):
            raise Forbidden(f"Region {region.code} is outside the region your key is limited to.")
        path = region.path
    query = select(Hazard)
    if path is not None:
        inside = select(Region.code).where(subtree_filter(Region.path, path))
        query = query.where(Hazard.region_code.in_(inside))
    if status is not None:
        if status not in STATUSES:
            raise Unprocessable(f"status must be one of {', '.join(STATUSES)}.",
                                errors=[{"loc": ["query", "status"], "msg": "unknown status"}])  # fmt: skip
        query = query.where(Hazard.status == status)
    if since is not None:
        query = query.where(Hazard.created_at >= since)
    if cursor:
        query = query.where(Hazard.id < cursor)
    return list(await session.scalars(query.order_by(Hazard.id.desc()).limit(limit)))


# An SMS that starts with one of these, from a phone on the roster, is a report of that person's region.
# The words an SMS report starts with, and the word that makes it urgent, with each catalog's.
SMS_PREFIXES = N_("险情|报告")
URGENT_WORD = N_("紧急")
_SEPARATORS = "：:，,。；;،؛ \u3000"


def sms_report(text: str, languages: Iterable[str] = ()) -> tuple[str, str, bool] | None:
    """(category, description, urgent) of a report sent by SMS, or None if the text is no report:
    "险情：后山裂缝，有落石" is a report of 后山裂缝; 紧急 anywhere makes it urgent. The words of the
    sender's languages count as the Chinese ones do."""
    body = text.strip()
    catalogs = [i18n.catalog(lang) for lang in (i18n.SOURCE, *languages)]
    prefixes = sorted({word for c in catalogs for word in c.words(SMS_PREFIXES)}, key=len, reverse=True)
    urgent_words = {word for c in catalogs for word in c.words(URGENT_WORD)}
    prefix = next((p for p in prefixes if body.startswith(p)), None)
    if prefix is None:
        return None
    rest = body[len(prefix) :]
    # Another language's word counts only as a heading, with a colon after it: in Uyghur and
    # Kazakh "no danger" is the danger word and a word after it (خەتەر يوق), or one word (خەتەرسىز).
    if prefix not in SMS_PREFIXES.split("|") and not rest.lstrip().startswith((":", "：")):
        return None
    rest = rest.lstrip(_SEPARATORS)
    if not rest:
        return None
    first = rest
    for separator in "，,。；;،؛":
        first = first.split(separator, 1)[0]
    for word in urgent_words:
        first = first.replace(word, "")
    category = first.strip(_SEPARATORS)[:50] or prefix
    return category, rest[:2000], any(word in body for word in urgent_words)


async def report_by_sms(
    session: AsyncSession, contact: Contact, text: str, *, languages: Iterable[str], now: datetime
) -> Hazard | None:
    """A report sent by SMS by a person on the roster: of their own region, by them; its words
    read in the languages of the phone's roster entries."""
    parsed = sms_report(text, languages)
    if parsed is None:
        return None
    category, description, urgent = parsed
    data = HazardIn(region_code=contact.region_code, category=category, description=description, urgent=urgent,
                    source="sms")  # fmt: skip
    return await report_hazard(session, data, actor=contact.name, now=now, reporter_contact=contact)


async def calls_of(
    session: AsyncSession, hazard: Hazard, principal: Principal
) -> tuple[list[Call], list[HazardDispatch]]:
    """The report's calls (to people inside the caller's area), and the departments its whistles called."""
    query = select(Call).where(Call.hazard_id == hazard.id).order_by(Call.id)
    query = scope.calls_in_scope(query, principal)
    dispatches = select(HazardDispatch).where(HazardDispatch.hazard_id == hazard.id).order_by(HazardDispatch.id)
    return list(await session.scalars(query)), list(await session.scalars(dispatches))


async def timeline(
    session: AsyncSession, hazard: Hazard, principal: Principal, *, limit: int, after: int | None
) -> list[AuditEvent]:
    """The report's chain in order, as the record shows it to the caller (a scoped key sees the
    events of its own area, as /audit/events does)."""
    query = select(AuditEvent).where(AuditEvent.chain == audit_service.hazard_chain(hazard.id))
    if principal.within is not None:
        query = query.where(audit_scope.visible_in(principal.within))
    if after is not None:
        query = query.where(AuditEvent.seq > after)
    return list(await session.scalars(query.order_by(AuditEvent.seq).limit(limit)))
