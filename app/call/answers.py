"""Presses of 收到 on links, answered in groups (ack.batcher gathers them): one statement reads and
locks a group's calls, one answers them, one marks their regions reached, so thousands of answers
a second each cost a share of a few statements."""

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import BindParameter, Table, bindparam, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.call import db as call_db
from app.call import hooks
from app.call import metrics as call_metrics
from app.call.service import ANSWERABLE, closed_a_week
from app.db import core_rows
from app.models.call import Call, CallToken
from app.models.warning import Warning, WarningRegion


@dataclass
class AckOutcome:
    """What became of one press of 收到."""

    result: str  # acknowledged | unknown | gone | closed
    status: str | None = None
    acknowledged_at: datetime | None = None


# The statements of a group of link answers (acknowledge_links), built once and run as Core on the
# session's connection: thousands of answers a second cannot each pay for building and caching an
# ORM statement. Calls are read and locked in one statement, in id order like call.db.lock_calls (the lock is
# a no-op on SQLite).
_calls, _tokens, _warnings, _regions = (
    cast(Table, model.__table__) for model in (Call, CallToken, Warning, WarningRegion)
)
_NOW: BindParameter[datetime] = bindparam("now")
_ANSWERING = (
    select(_calls.c.id, _tokens.c.token_hash, _calls.c.status, _calls.c.acknowledged_at, _calls.c.warning_id,
           _calls.c.hazard_id, _calls.c.kind, _calls.c.region_codes, _calls.c.contact_region_code,
           _calls.c.contact_name, _warnings.c.closed_at)
    .select_from(_tokens.join(_calls, _calls.c.id == _tokens.c.call_id)
                 .outerjoin(_warnings, _warnings.c.id == _calls.c.warning_id))
    .where(_tokens.c.token_hash.in_(bindparam("hashes", expanding=True)))
    .order_by(_calls.c.id)
    .with_for_update(of=_calls, key_share=True)
)  # fmt: skip
_ANSWER = (
    update(_calls)
    .where(_calls.c.id.in_(bindparam("ids", expanding=True)), _calls.c.status.in_(ANSWERABLE))
    .values(status="acknowledged", acknowledged_at=_NOW, ack_method="link", ack_by=_calls.c.contact_name,
            late=_calls.c.deadline_at < _NOW, next_attempt_at=None, closed_at=_NOW)
    .returning(_calls.c.id, _calls.c.late, _calls.c.created_at)
)  # fmt: skip
_REACH = (
    update(_regions)
    .where(tuple_(_regions.c.warning_id, _regions.c.region_code).in_(bindparam("pairs", expanding=True)),
           _regions.c.state != "reached")
    .values(state="reached", reached_at=_NOW, reached_by="link")
    .returning(_regions.c.warning_id, _regions.c.region_code)
)  # fmt: skip


async def acknowledge_links(
    session: AsyncSession, token_hashes: dict[str, str | None], *, now: datetime
) -> dict[str, AckOutcome]:
    """Acknowledge many calls by their tokens' hashes at once (see ack.batcher): a few set-based
    statements whatever the number, each answer recorded as if it had come alone, under the id of
    the request that brought it (the hashes map to their request ids)."""
    reports = (
        select(_calls.c.hazard_id)
        .select_from(_tokens.join(_calls, _calls.c.id == _tokens.c.call_id))
        .where(_tokens.c.token_hash.in_(list(token_hashes)), _calls.c.hazard_id.is_not(None))
    )
    await call_db.lock_reports(session, (await session.execute(reports)).scalars())
    rows = (await core_rows(session, _ANSWERING, {"hashes": list(token_hashes)})).all()
    outcomes = {token_hash: AckOutcome("unknown") for token_hash in token_hashes}
    requests = {row.id: token_hashes[row.token_hash] for row in rows}
    answerable = []
    for row in rows:
        if closed_a_week(row.closed_at, now):
            outcomes[row.token_hash] = AckOutcome("gone", row.status)
        elif row.status in ANSWERABLE:
            answerable.append(row)
        elif row.status == "acknowledged":
            outcomes[row.token_hash] = AckOutcome("acknowledged", row.status, row.acknowledged_at)
        else:
            outcomes[row.token_hash] = AckOutcome("closed", row.status)
    if not answerable:
        return outcomes
    acknowledged = (await core_rows(session, _ANSWER, {"ids": [row.id for row in answerable], "now": now})).all()
    late: dict[str, bool] = {call_id: bool(is_late) for call_id, is_late, _ in acknowledged}
    for _, _, made_at in acknowledged:
        call_metrics.acknowledged("link", made_at, now)
    events: list[audit_service.Event] = []
    regions: dict[tuple[str, str], str] = {}  # (warning, region) -> the first call answering for it
    for row in answerable:
        if row.id not in late:  # answered or closed by another writer meanwhile: read it again
            current = await session.get_one(Call, row.id, populate_existing=True)
            outcomes[row.token_hash] = AckOutcome(
                "acknowledged" if current.status == "acknowledged" else "closed", current.status,
                current.acknowledged_at,
            )  # fmt: skip
            continue
        outcomes[row.token_hash] = AckOutcome("acknowledged", "acknowledged", now)
        events.append(
            audit_service.Event(type="call.acknowledged", actor=row.contact_name, warning_id=row.warning_id,
                                hazard_id=row.hazard_id, call_id=row.id, region_code=row.contact_region_code,
                                data={"method": "link", "late": bool(late[row.id])},
                                request_id=token_hashes[row.token_hash])
        )  # fmt: skip
        if row.kind == "alert" and row.warning_id is not None:
            for code in row.region_codes:
                regions.setdefault((row.warning_id, code), row.id)
    if regions:
        reached = (await core_rows(session, _REACH, {"pairs": sorted(regions), "now": now})).all()
        for warning_id, code in sorted(reached):
            events.append(
                audit_service.Event(type="region.reached", actor="link", warning_id=warning_id, region_code=code,
                                    call_id=regions[(warning_id, code)], data={"by": "link"},
                                    request_id=requests.get(regions[(warning_id, code)]))
            )  # fmt: skip
    await audit_service.record_warning_events(session, events, now=now)
    answered = [hooks.Answered(row.id, row.kind, row.hazard_id, "link", row.contact_name)
                for row in answerable if row.id in late]  # fmt: skip
    await hooks.answered(session, answered, now)
    return outcomes
