"""Sealing: a week after a warning ends its figures are rolled up, the report reads the same rows
from the rollups as from the calls, and the sealed record takes no more answers or confirmations."""

import asyncio
from datetime import timedelta
from typing import Any

from httpx import AsyncClient
from sqlalchemy import func, select, update

from app.call.models import Call
from app.db import session_scope, utc_now
from app.report import rollup
from app.report.models import ReportRollup
from app.warning.models import Warning, WarningRegion
from tests.conftest import requires_postgres
from tests.factories import COUNTY, VILLAGE, calls, issue, roster, send_all
from tests.report.test_response import TOWNSHIP, a_warning_answered, report, report_back

WEEK_AND_MORE = rollup.FEEDBACK_WINDOW + rollup.SEAL_MARGIN + timedelta(minutes=1)


async def close_long_ago(warning_id: str) -> None:
    """As if the warning had been cancelled more than a week ago."""
    async with session_scope() as session:
        ended = utc_now() - WEEK_AND_MORE
        await session.execute(update(Warning).where(Warning.id == warning_id).values(closed_at=ended))


async def seal_all() -> list[str]:
    sealed = []
    while True:
        async with session_scope() as session:
            if (warning_id := await rollup.seal_due(session, now=utc_now())) is None:
                return sealed
        sealed.append(warning_id)


async def every_report(client: AsyncClient) -> list[list[dict[str, Any]]]:
    return [
        await report(client, group_by=group_by, region_code=region)
        for group_by in ("county", "township")
        for region in (COUNTY, TOWNSHIP[:9].ljust(12, "0"))
        if group_by == "township" or region == COUNTY
    ]


async def test_sealed_warnings_report_the_figures_their_calls_gave(client: AsyncClient, regions: None) -> None:
    await roster(client)
    old = await a_warning_answered(client)
    await send_all()
    await report_back(client, old)
    recent = await a_warning_answered(client, area_codes=[TOWNSHIP])  # still open: counted from its calls
    cancelled = await client.post(f"/api/v1/warnings/{old['id']}/cancel", json={"kind": "lifted"})
    assert cancelled.status_code == 200, cancelled.text
    before = await every_report(client)
    assert await seal_all() == []  # the week has not passed

    await close_long_ago(old["id"])
    assert await seal_all() == [old["id"]]
    assert await every_report(client) == before
    async with session_scope() as session:
        sealed = await session.get_one(Warning, old["id"])
        assert sealed.sealed_at is not None
        assert (await session.get_one(Warning, recent["id"])).sealed_at is None
        rolled = (await session.scalars(select(ReportRollup).where(ReportRollup.warning_id == old["id"]))).all()
        alerts = await session.scalar(
            select(func.count()).where(Call.warning_id == old["id"], Call.kind == "alert")
        )  # fmt: skip
        targeted = await session.scalar(select(func.count()).where(WarningRegion.warning_id == old["id"]))
    assert sum(row.calls for row in rolled) == alerts
    assert sum(row.targeted_regions for row in rolled) == targeted
    assert sum(len(row.ack_seconds or []) for row in rolled) == sum(row.acknowledged for row in rolled) > 0
    assert await seal_all() == []  # sealed once


async def test_a_sealed_record_takes_no_more_answers_or_confirmations(client: AsyncClient, regions: None) -> None:
    await roster(client, skip=(VILLAGE,))
    warning = await issue(client)
    await client.post(f"/api/v1/warnings/{warning['id']}/cancel", json={"kind": "lifted"})
    await close_long_ago(warning["id"])
    silent = next(c for c in await calls(client, warning["id"]) if c["status"] != "acknowledged")
    answered = await client.post(f"/api/v1/calls/{silent['id']}/ack", json={"method": "phone", "note": "电话"})
    assert answered.status_code == 410 and "sealed" in answered.json()["detail"], answered.text
    confirmed = await client.post(f"/api/v1/warnings/{warning['id']}/regions/{VILLAGE}/confirm", json={"note": "到过"})
    assert confirmed.status_code == 410, confirmed.text
    async with session_scope() as session:
        call = await session.get_one(Call, silent["id"])
        region = await session.get_one(WarningRegion, (warning["id"], VILLAGE))
        assert call.acknowledged_at is None and region.state == "uncovered"


@requires_postgres
async def test_processes_side_by_side_seal_each_warning_once(client: AsyncClient, regions: None) -> None:
    await roster(client)
    ids = [(await issue(client))["id"] for _ in range(2)]
    for warning_id in ids:
        await client.post(f"/api/v1/warnings/{warning_id}/cancel", json={"kind": "lifted"})
        await close_long_ago(warning_id)
    both_inside = asyncio.Barrier(2)

    async def one_process() -> str | None:
        async with session_scope() as session:
            sealed = await rollup.seal_due(session, now=utc_now())
            await both_inside.wait()  # neither commits before the other has taken its warning
            return sealed

    assert sorted(await asyncio.gather(one_process(), one_process())) == sorted(ids)  # type: ignore[type-var]
    async with session_scope() as session:
        per_warning = await session.execute(
            select(ReportRollup.warning_id, func.count()).group_by(ReportRollup.warning_id)
        )  # fmt: skip
        assert {warning_id for warning_id, _ in per_warning} == set(ids)
