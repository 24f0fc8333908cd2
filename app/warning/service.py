"""Issuing and reading warnings."""

import hashlib
from datetime import datetime, timedelta

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.auth import scope
from app.auth.service import Principal
from app.broadcast import service as broadcast_service
from app.call import tally
from app.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.models.region import Region
from app.models.warning import IdempotencyKey, Warning
from app.policy import service as policy_service
from app.policy.snapshot import PolicySnapshot
from app.region import service as region_service
from app.warning import db as warning_db
from app.warning import expansion, fanout
from app.warning.schemas import CallCounts, CapSource, PreviewOut, PreviewRegion, WarningIn, WarningOut

IDEMPOTENCY_TTL = timedelta(hours=24)


def ensure_writable(principal: Principal, warning: Warning) -> None:
    """A duty officer acts on warnings whose areas lie wholly inside its region."""
    if not scope.covers_warning(principal, warning):
        raise Forbidden(f"Warning {warning.id} reaches beyond your key's region {principal.region_code}.")


async def get_warning(session: AsyncSession, warning_id: str, principal: Principal) -> Warning:
    """A warning the caller may read: 404 if unknown, 403 if its areas are outside the caller's region."""
    warning = await session.get(Warning, warning_id)
    if warning is None:
        raise NotFound(f"No warning has id {warning_id!r}.")
    if not scope.overlaps(principal, warning):
        raise Forbidden(f"Warning {warning_id} covers no part of your key's region {principal.region_code}.")
    return warning


async def check_areas(session: AsyncSession, area_codes: list[str], principal: Principal) -> dict[str, Region]:
    """The areas as regions: 422 naming each unknown or abolished code, 403 if outside the caller's subtree."""
    codes = [region_service.normalize_code(code) or code for code in area_codes]
    found = {r.code: r for r in await session.scalars(select(Region).where(Region.code.in_(set(codes))))}
    errors = [
        {"loc": ["body", "area_codes", index], "msg": f"unknown region code {code}"}
        for index, code in enumerate(codes)
        if code not in found
    ] + [
        {"loc": ["body", "area_codes", index], "msg": f"region {code} is abolished"}
        for index, code in enumerate(codes)
        if code in found and found[code].abolished
    ]
    if errors:
        named = ", ".join(str(error["msg"]).split()[-1] for error in errors)
        raise Unprocessable(f"These areas cannot be warned: {named}.", errors=errors)
    outside = [code for code in codes if not principal.covers(found[code].path)]
    if outside:
        raise Forbidden(f"Areas {', '.join(outside)} are outside your key's region {principal.region_code}.")
    return {code: found[code] for code in dict.fromkeys(codes)}


def body_hash(data: WarningIn) -> str:
    """The request compared as parsed JSON: key order, spacing and defaults do not matter."""
    body = data.model_dump(mode="json")
    if body["translations"] is None:  # none given hashes as before translations were taken (keys kept 24 h)
        del body["translations"]
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


async def _claim_idempotency_key(session: AsyncSession, scope: str, key: str) -> None:
    """Hold the key for this transaction; a concurrent request with it gets 409 at once."""
    if not await warning_db.hold_idempotency_key(session, scope, key):
        raise Conflict("A request with this Idempotency-Key is still being processed; retry in a moment.")


def _check_expires(data: WarningIn, now: datetime) -> None:
    if data.expires and data.expires <= now:
        raise Unprocessable("expires is already past.", errors=[{"loc": ["body", "expires"], "msg": "in the past"}])


async def preview_warning(session: AsyncSession, data: WarningIn, *, principal: Principal, now: datetime) -> PreviewOut:
    """The dry run of issuing: people to call, regions targeted and uncovered, under the same checks. Writes nothing."""
    areas = await check_areas(session, data.area_codes, principal)
    _check_expires(data, now)
    policy = policy_service.as_dict(await policy_service.get_policy(session, data.level))
    rules = PolicySnapshot.of(policy)
    found = await fanout.preview(session, [region.path for region in areas.values()], list(rules.reach))
    by_level: dict[str, int] = {}
    for region in found.regions:
        by_level[region["level"]] = by_level.get(region["level"], 0) + 1
    return PreviewOut(
        level=data.level,
        mode=data.mode,
        area_codes=list(areas),
        calls=found.calls,
        targeted_regions=len(found.regions),
        targeted_by_level=by_level,
        uncovered_area_codes=[region["code"] for region in found.uncovered],
        uncovered_regions=[PreviewRegion(**region) for region in found.uncovered],
        escalates_uncovered=rules.escalate and data.mode != "test",
        sends=data.mode != "test",
        policy=policy,
    )


async def issue_warning(
    session: AsyncSession,
    data: WarningIn,
    *,
    principal: Principal,
    idempotency_key: str | None,
    now: datetime,
    fanout_above: int,
) -> tuple[Warning, bool]:
    """Issue a warning and store every call; returns (warning, created). A replayed key returns the first.

    Every way of issuing comes here (the API, the console's form, CAP posted or polled, and their
    updates through lifecycle.update_warning): a warning whose roster holds more people than
    `fanout_above` (JIAOYING_ASYNC_FANOUT_ABOVE) is stored `expanding` and its calls are written by
    the heartbeat in steps (see warning.expansion); the others are stored whole, now."""
    areas = await check_areas(session, data.area_codes, principal)
    digest = body_hash(data)
    scope = principal.key_id or "bootstrap-admin"
    if idempotency_key is not None:
        await _claim_idempotency_key(session, scope, idempotency_key)
        previous = await session.get(IdempotencyKey, (scope, idempotency_key))
        if previous is not None and previous.created_at > now - IDEMPOTENCY_TTL:
            if previous.body_hash != digest:
                raise Conflict("This Idempotency-Key was used with another body; use a new key for a new warning.")
            warning = await session.get(Warning, previous.warning_id)
            assert warning is not None
            return warning, False
        if previous is not None:
            await session.delete(previous)
            await session.flush()
    _check_expires(data, now)
    policy = policy_service.as_dict(await policy_service.get_policy(session, data.level))
    warning = Warning(
        hazard=data.hazard,
        level=data.level,
        title=data.title,
        description=data.description,
        instruction=data.instruction,
        translations=data.translation_texts(),
        area_codes=list(areas),
        area_paths=[region.path for region in areas.values()],
        onset=data.onset,
        expires=data.expires,
        mode=data.mode,
        status="active",
        policy=policy,
        created_at=now,
        created_by=principal.name,
    )
    session.add(warning)
    await session.flush()
    if await expansion.roster_above(
        session, warning.area_paths, list(PolicySnapshot.of(warning.policy).reach), fanout_above
    ):
        issued = expansion.begin(warning, actor=principal.name)
        await audit_service.record_events(session, [issued], chain=audit_service.warning_chain(warning.id), now=now)
    else:
        await fanout.expand(session, warning, actor=principal.name, now=now)
    await broadcast_service.schedule(session, warning, "alert", now=now)  # the village loudspeakers, at once
    if idempotency_key is not None:
        session.add(
            IdempotencyKey(scope=scope, key=idempotency_key, body_hash=digest, warning_id=warning.id, created_at=now)
        )
    return warning, True


async def _counts(session: AsyncSession, warning_id: str) -> dict[str, CallCounts]:
    """Calls by kind (alert, escalation) and status."""
    by_kind: dict[str, dict[str, int]] = {"alert": {}, "escalation": {}}
    for group in await tally.calls(session, warning_id):
        by_kind.setdefault(group.kind, {})[group.status] = group.calls
    return {kind: CallCounts(total=sum(statuses.values()), by_status=statuses) for kind, statuses in by_kind.items()}


async def warning_out(session: AsyncSession, warning: Warning) -> WarningOut:
    """The warning with its call counts and regions reached, and the CAP message it came from."""
    counts = await _counts(session, warning.id)
    reached = sum(group.regions for group in await tally.regions(session, warning.id) if group.state == "reached")
    return WarningOut(
        id=warning.id,
        status=warning.status,
        mode=warning.mode,
        hazard=warning.hazard,
        level=warning.level,
        title=warning.title,
        description=warning.description,
        instruction=warning.instruction,
        area_codes=warning.area_codes,
        onset=warning.onset,
        expires=warning.expires,
        created_at=warning.created_at,
        created_by=warning.created_by,
        closed_at=warning.closed_at,
        close_kind=warning.close_kind,
        close_reason=warning.close_reason,
        supersedes=warning.supersedes,
        superseded_by=warning.superseded_by,
        policy=warning.policy,
        calls=counts["alert"],
        escalations=counts["escalation"],
        targeted_regions=warning.targeted_regions,
        reached_regions=reached,
        uncovered_area_codes=warning.uncovered_area_codes,
        translations=warning.translations or {},
        cap_source=CapSource.model_validate(warning.cap_source) if warning.cap_source else None,
    )
