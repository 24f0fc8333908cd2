"""The tallies the database keeps on PostgreSQL equal the rows counted, through a warning's life:
fan-out, sending, answers by link (grouped and concurrent) and by hand, escalation, confirmation,
cancellation; and the API reads them."""

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.call import chase as call_chase
from app.config import get_settings
from app.db import get_database, session_scope
from app.models.call import Call
from app.models.warning import CallTally, RegionTally, WarningRegion
from app.notify.console import ConsoleProvider
from app.notify.sender import send_due
from tests.conftest import requires_postgres
from tests.factories import COUNTY, OTHER_TOWNSHIP, issue, outbox, roster, send_all, token_of

JSON = {"Accept": "application/json"}


async def _counted() -> tuple[dict[tuple[Any, ...], int], dict[tuple[Any, ...], int], dict[tuple[Any, ...], int]]:
    """Calls by (warning, kind, status), their attempts, and regions by (warning, county, state, escalated)."""
    async with session_scope() as session:
        calls = await session.execute(
            select(Call.warning_id, Call.kind, Call.status, func.count(), func.sum(Call.attempts))
            .group_by(Call.warning_id, Call.kind, Call.status)
        )  # fmt: skip
        county = func.substr(WarningRegion.region_code, 1, 6)
        escalated = WarningRegion.escalated_at.is_not(None)
        regions = await session.execute(
            select(WarningRegion.warning_id, county, WarningRegion.state, escalated, func.count())
            .group_by(WarningRegion.warning_id, county, WarningRegion.state, escalated)
        )  # fmt: skip
        call_rows = calls.tuples().all()
        return (
            {(w, k, s): n for w, k, s, n, _ in call_rows},
            {(w, k, s): int(a) for w, k, s, _, a in call_rows},
            {(w, c, s, bool(e)): n for w, c, s, e, n in regions.tuples()},
        )


async def _kept() -> tuple[dict[tuple[Any, ...], int], dict[tuple[Any, ...], int], dict[tuple[Any, ...], int]]:
    """The tallies, their slots summed."""
    call_groups = (CallTally.warning_id, CallTally.kind, CallTally.status)
    region_groups = (RegionTally.warning_id, RegionTally.county, RegionTally.state, RegionTally.escalated)
    async with session_scope() as session:
        calls = await session.execute(
            select(*call_groups, func.sum(CallTally.calls), func.sum(CallTally.attempts))
            .group_by(*call_groups)
            .having(func.sum(CallTally.calls) != 0)
        )
        regions = await session.execute(
            select(*region_groups, func.sum(RegionTally.regions))
            .group_by(*region_groups)
            .having(func.sum(RegionTally.regions) != 0)
        )
        call_rows = calls.tuples().all()
        return (
            {(w, k, s): int(n) for w, k, s, n, _ in call_rows},
            {(w, k, s): int(a) for w, k, s, _, a in call_rows},
            {(w, c, s, bool(e)): int(n) for w, c, s, e, n in regions.tuples()},
        )


async def _agree() -> None:
    assert await _kept() == await _counted()


@requires_postgres
async def test_tallies_follow_every_change(client: AsyncClient, anonymous: AsyncClient, regions: None) -> None:
    await roster(client)
    warning = await issue(client, area_codes=[COUNTY])
    await _agree()  # the fan-out: every call pending, every region unreached
    await send_all()
    await _agree()  # sent: notified, one attempt each
    tokens = [token_of(m) for m in await outbox(client, warning["id"]) if m["channel"] == "sms"]
    # Presses arriving together (one group) and one at a time, some twice.
    answers = await asyncio.gather(*(anonymous.post(f"/ack/{t}", headers=JSON) for t in tokens[:12] + tokens[:3]))
    assert all(answer.status_code == 200 for answer in answers)
    for token in tokens[12:15]:
        assert (await anonymous.post(f"/ack/{token}", headers=JSON)).status_code == 200
    await _agree()
    silent = (await client.get(f"/api/v1/warnings/{warning['id']}/calls", params={"status": "notified"})).json()
    manual = await client.post(f"/api/v1/calls/{silent['items'][0]['id']}/ack", json={"method": "phone"})
    assert manual.status_code == 200, manual.text
    await _agree()
    # The ladder and escalation at the deadline, then a region confirmed by other means.
    moment = datetime.fromisoformat(warning["created_at"]) + timedelta(seconds=400)
    await send_due(ConsoleProvider(), settings=get_settings(), now=moment)
    await call_chase.chase_due(now=moment)
    await send_due(ConsoleProvider(), settings=get_settings(), now=moment)
    await _agree()
    board = (await client.get(f"/api/v1/warnings/{warning['id']}")).json()
    calls_counted, _, regions_counted = await _counted()
    assert board["calls"]["total"] == sum(n for (w, k, _), n in calls_counted.items() if k == "alert")
    assert board["reached_regions"] == sum(n for (w, _, s, _), n in regions_counted.items() if s == "reached")
    escalated = [key for key in regions_counted if key[2] == "unreached" and key[3]]
    assert escalated, "villages nobody answered for are escalated in this test"
    regions_page = await client.get(f"/api/v1/warnings/{warning['id']}/regions", params={"limit": 1000})
    silent_village = next(r for r in regions_page.json()["items"] if r["state"] == "unreached")
    confirm_url = f"/api/v1/warnings/{warning['id']}/regions/{silent_village['region_code']}/confirm"
    assert (await client.post(confirm_url, json={"method": "phone"})).status_code == 200
    await _agree()
    cancelled = await client.post(f"/api/v1/warnings/{warning['id']}/cancel", json={"reason": "解除", "kind": "lifted"})
    assert cancelled.status_code == 200, cancelled.text
    await send_all()
    await _agree()


async def test_regions_to_confirm_are_the_warnings_own(client: AsyncClient, regions: None) -> None:
    from app.auth.service import Principal
    from app.models.warning import Warning
    from app.web import service as web_service
    from tests.factories import VILLAGE, create_contact

    await roster(client, skip=(VILLAGE,))
    uncovered = await issue(client, area_codes=[COUNTY])  # VILLAGE has nobody on record
    await create_contact(client, region_code="650107001002")
    covered = await issue(client, area_codes=["650107001002"], title="七一平峒社区大风红色预警")
    admin = Principal(name="值班员", role="admin")
    async with session_scope() as session:
        for body, expected in ((uncovered, [VILLAGE]), (covered, [])):
            warning = await session.get_one(Warning, body["id"])
            found = await web_service.regions_to_confirm(session, warning, admin)
            assert [(region.warning_id, region.region_code) for region in found] == [
                (body["id"], code) for code in expected
            ]


async def test_a_scoped_key_is_shown_its_own_regions_to_confirm_however_many_come_before(
    client: AsyncClient, regions: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The list is scoped in SQL before its limit: regions of other townships listed first do not
    take the places of the key's own."""
    from app.auth.service import Principal
    from app.models.region import Region
    from app.models.warning import Warning
    from app.web import service as web_service

    warning = await issue(client, area_codes=[COUNTY])  # nobody on record: every village uncovered
    monkeypatch.setattr(web_service, "LIST_MAX", 1)
    async with session_scope() as session:
        township = await session.get_one(Region, OTHER_TOWNSHIP)
        scoped = Principal(
            name="乌拉泊值班员", role="duty_officer", region_code=township.code, region_path=township.path
        )
        found = await web_service.regions_to_confirm(session, await session.get_one(Warning, warning["id"]), scoped)
    assert [region.region_code[:9] for region in found] == [OTHER_TOWNSHIP[:9]]


@requires_postgres
async def test_writers_of_one_warning_do_not_wait_for_each_others_commit(client: AsyncClient, regions: None) -> None:
    """The sender lanes of several processes and the acknowledgements move calls of the same groups
    at once: each connection folds its changes into its own slot, so none waits on another's row."""
    await roster(client)
    warning = await issue(client, area_codes=[COUNTY])
    engine = get_database().engine
    async with contextlib.AsyncExitStack() as stack:
        writers: dict[int, AsyncConnection] = {}
        while len(writers) < 2:  # two connections of different slots (process ids modulo 64)
            connection = await stack.enter_async_context(engine.connect())
            writers.setdefault((await connection.scalar(text("SELECT pg_backend_pid() % 64"))) or 0, connection)
        first, second = writers.values()
        calls = (await first.execute(select(Call.id).where(Call.warning_id == warning["id"]).limit(2))).scalars()
        for connection, call_id in zip((first, second), calls, strict=True):  # the first stays uncommitted
            await connection.execute(text("SET LOCAL lock_timeout = '2s'"))
            await connection.execute(update(Call).where(Call.id == call_id).values(status="notified"))
        await first.rollback()
        await second.rollback()
