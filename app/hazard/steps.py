"""A hazard report's steps taken by people: reported, whistled (吹哨), handling, resolved, judged (末端评价)."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import Principal
from app.db import savepoint
from app.errors import Conflict, Forbidden, Unprocessable
from app.hazard.calls import TO_RECEIVE_S, cancel_calls, department_people, make_calls, reporter, to_office
from app.hazard.chain import event, record
from app.hazard.schemas import HazardIn, WhistleIn
from app.models.call import Call
from app.models.contact import Contact
from app.models.department import Department
from app.models.hazard import STEPS, Hazard, HazardDispatch
from app.models.region import Region
from app.policy import service as policy_service
from app.region import service as region_service

TO_EVALUATE_S = 7 * 24 * 3600
ACTORS = ("admin", "duty_officer")


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
    events += await cancel_calls(session, hazard, "report resolved", now)
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
    events += await cancel_calls(session, hazard, "evaluated", now, Call.hazard_step == "evaluate")
    if rating == "satisfied":
        hazard.status = "evaluated"
    else:
        hazard.status = "reopened"
        events.append(event(hazard, "hazard.reopened", actor, note=note))
        events += await to_office(session, hazard, step="receive", now=now)
    await record(session, hazard, events, now)
    return hazard


async def evaluate_by_link(
    session: AsyncSession, hazard: Hazard, rating: str, note: str, *, actor: str, now: datetime
) -> None:
    """末端评价 from the reporter's link, under the report's lock. A refusal (already evaluated, not
    resolved) leaves nothing behind: a savepoint, and what was read is read again afterwards."""
    locked = await session.get_one(Hazard, hazard.id, with_for_update=True, populate_existing=True)
    async with savepoint(session):
        await evaluate(session, locked, rating, note, actor=actor, now=now)
