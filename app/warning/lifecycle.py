"""The end of a warning: cancelled (解除 / 撤回), superseded by an update, or expired; and confirmations."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.auth.service import Principal
from app.broadcast import service as broadcast_service
from app.call import service as call_service
from app.errors import Conflict, NotFound, Unprocessable
from app.models.contact import Contact
from app.models.warning import OPEN_STATUSES as OPEN_WARNING
from app.models.warning import Warning, WarningRegion
from app.notify.base import Plan
from app.policy.snapshot import PolicySnapshot
from app.warning import closing, fanout
from app.warning import service as warning_service
from app.warning.schemas import ConfirmIn, WarningIn


def _ensure_open(warning: Warning) -> None:
    if warning.status not in OPEN_WARNING:
        raise Conflict(f"Warning {warning.id} is already {warning.status}.")


async def _broadcast_end(session: AsyncSession, warning: Warning, close_kind: str, now: datetime) -> None:
    """Loudspeakers that played the alert (or were about to) say it is lifted or withdrawn."""
    await broadcast_service.cancel_pending(session, warning, reason=f"warning {close_kind} before it was broadcast")
    await broadcast_service.schedule(session, warning, broadcast_service.CLOSING[close_kind], now=now)


async def lock_warning(session: AsyncSession, warning: Warning) -> Warning:
    """Re-read the warning under a row lock, so two closings cannot both pass the open check."""
    locked = await session.scalar(
        # FOR NO KEY UPDATE: rows that merely reference the warning (feedback) may still be written.
        select(Warning)
        .where(Warning.id == warning.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    assert locked is not None
    return locked


async def cancel_warning(
    session: AsyncSession, warning: Warning, *, reason: str, kind: str, actor: str, plan: Plan, now: datetime
) -> Warning:
    """Cancel: 解除 (lifted) when the danger has passed, 撤回 (withdrawn) when issued in error."""
    warning = await lock_warning(session, warning)
    _ensure_open(warning)
    warning.status, warning.closed_at, warning.close_reason, warning.close_kind = "cancelled", now, reason, kind
    await session.flush()
    await closing.close_calls(
        session,
        warning,
        status="cancelled",
        reason=kind,
        actor=actor,
        now=now,
        plan=plan,
        notice_reason=reason or None,
    )
    await _broadcast_end(session, warning, kind, now)
    await audit_service.record_event(
        session,
        audit_service.Event(
            type="warning.cancelled", actor=actor, warning_id=warning.id, data={"kind": kind, "reason": reason}
        ),
        chain=audit_service.warning_chain(warning.id),
        now=now,
    )
    return warning


async def update_warning(
    session: AsyncSession,
    warning: Warning,
    data: WarningIn,
    *,
    principal: Principal,
    now: datetime,
    fanout_above: int,
    plan: Plan,
) -> Warning:
    """Supersede a warning: it closes, and the new one calls afresh (in steps above `fanout_above`
    people, as issuing does); those no longer targeted are told."""
    (new,) = await supersede(
        session, [warning], [data], principal=principal, now=now, fanout_above=fanout_above, plan=plan
    )
    return new


async def supersede(
    session: AsyncSession,
    warnings: list[Warning],
    updates: list[WarningIn],
    *,
    principal: Principal,
    now: datetime,
    fanout_above: int,
    plan: Plan,
) -> list[Warning]:
    """Supersede warnings with new ones (a CAP Update of an alert issued at several levels may
    bring several, one per level): see `retire`."""
    olds = await _locked_open(session, warnings)
    if any(data.mode == "test" for data in updates):
        # A dry run in force is none: it would end the warning and leave nothing calling anyone.
        raise Unprocessable(
            f"An update cannot be a dry run (mode test): warning {olds[0].id} would end and nothing replace it. "
            "Preview the update (POST /api/v1/warnings/preview) or issue the dry run on its own.",
            errors=[{"loc": ["body", "mode"], "msg": "an update is actual or exercise"}],
        )
    news = [
        (await warning_service.issue_warning(
            session, data, principal=principal, idempotency_key=None, now=now, fanout_above=fanout_above
        ))[0]
        for data in updates
    ]  # fmt: skip
    await retire(session, olds, news, actor=principal.name, plan=plan, now=now)
    return news


async def retire(
    session: AsyncSession, warnings: list[Warning], news: list[Warning], *, actor: str, plan: Plan, now: datetime
) -> None:
    """Warnings give way to newer ones already issued: each is superseded by the new one of its
    hazard and level, else by the first; people none of the new ones calls are told it has ended."""
    olds = await _locked_open(session, warnings)
    of_kind = {(new.hazard, new.level): new for new in reversed(news)}
    # People the new warnings call need no lifting notice. Read off the roster, as a fan-out is: a
    # new warning expanded in steps has no calls yet.
    callers = [_on_roster_of(new) for new in news]
    for old in olds:
        new = of_kind.get((old.hazard, old.level), news[0])
        new.supersedes = new.supersedes or old.id
        old.status, old.closed_at, old.close_kind, old.superseded_by = "superseded", now, "superseded", new.id
        await session.flush()
        await closing.close_calls(
            session,
            old,
            status="superseded",
            reason="superseded",
            actor=actor,
            now=now,
            plan=plan,
            keep_phones=callers,
        )
        await broadcast_service.cancel_pending(session, old, reason="superseded: the new warning is broadcast")
        # Loudspeakers the update no longer reaches (or no longer broadcasts on) say it is over.
        await broadcast_service.schedule(session, old, "lifting", now=now, beyond=[n.id for n in news])
        await audit_service.record_event(
            session,
            audit_service.Event(
                type="warning.updated", actor=actor, warning_id=old.id,
                data={"superseded_by": new.id, **({"issued": [n.id for n in news]} if len(news) > 1 else {})},
            ),
            chain=audit_service.warning_chain(old.id),
            now=now,
        )  # fmt: skip
    for new in news:  # each new one says what it updates (a CAP export makes it an Update)
        new.supersedes = new.supersedes or olds[0].id


async def _locked_open(session: AsyncSession, warnings: list[Warning]) -> list[Warning]:
    """The warnings locked in id order (so two closings never deadlock), each still open."""
    locked = [await lock_warning(session, warning) for warning in sorted(warnings, key=lambda warning: warning.id)]
    for warning in locked:
        _ensure_open(warning)
    return locked


def _on_roster_of(warning: Warning) -> Callable[[Any], Select[Any]]:
    """For a phone, the roster rows of the warning's targeted regions with it (someone it calls)."""

    def rows(phone: Any) -> Select[Any]:
        query = fanout.on_roster(select(Contact.id), warning.area_paths, list(PolicySnapshot.of(warning.policy).reach))
        return query.where(Contact.phone == phone)

    return rows


async def expire_due(session: AsyncSession, *, plan: Plan, now: datetime, limit: int = 100) -> int:
    """Expire active warnings past `expires`; each tells everyone notified (by a channel the `plan`
    carries). Safe with many processes."""
    query = (
        select(Warning)
        .where(Warning.status == "active", Warning.expires.is_not(None), Warning.expires <= now)
        .order_by(Warning.expires)
        .limit(limit)
        .with_for_update(skip_locked=True, key_share=True)
    )
    due = list(await session.scalars(query))
    for warning in due:
        warning.status, warning.closed_at, warning.close_kind = "expired", now, "expired"
        await session.flush()
        await closing.close_calls(
            session, warning, status="expired", reason="expired", actor="scheduler", now=now, plan=plan
        )
        await _broadcast_end(session, warning, "expired", now)
        await audit_service.record_event(
            session,
            audit_service.Event(
                type="warning.expired",
                actor="scheduler",
                warning_id=warning.id,
                data={"expires": warning.expires.isoformat() if warning.expires else None},
            ),
            chain=audit_service.warning_chain(warning.id),
            now=now,
        )
    return len(due)


async def confirm_region(
    session: AsyncSession, warning: Warning, code: str, data: ConfirmIn, *, actor: str, now: datetime
) -> WarningRegion:
    """Mark a targeted region reached by other means (a call outside the system, a visit). Idempotent."""
    code = warning_service.region_service.require_code(code)
    region = await session.get(WarningRegion, (warning.id, code))
    if region is None:
        raise NotFound(f"Warning {warning.id} does not target region {code}.")
    if region.state != "reached":
        call_service.ensure_unsealed(warning, now)
        reached = await call_service.mark_regions_reached(
            session, warning.id, [code], by="confirmed", actor=actor, call_id=None, now=now,
            details={"method": data.method, "note": data.note},
        )  # fmt: skip
        await audit_service.record_events(session, reached, chain=audit_service.warning_chain(warning.id), now=now)
        await session.refresh(region)
    return region
