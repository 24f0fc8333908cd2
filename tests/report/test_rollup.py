"""Sealing: a week after a warning ends its figures are rolled up, the report reads the same rows
from the rollups as from the calls, and the sealed record takes no more answers or confirmations."""

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select, update

from app.db import session_scope, utc_now
from app.models.call import Call
from app.models.region import Region
from app.models.report import ReportRollup
from app.models.warning import Warning, WarningRegion
from app.report import db as report_db
from app.report import rollup
from app.report.coverage import Coverage, Period
from app.web import charts
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
    """The county's rows, its townships' (whole and page by page), and one township's."""
    reports = [await report(client, group_by=group_by) for group_by in ("county", "township")]
    reports.append(await report(client, group_by="township", region_code=TOWNSHIP))
    paged: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"region_code": COUNTY, "group_by": "township", "limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/v1/reports/response", params=params)).json()
        paged += page["items"]
        if not (cursor := page["next_cursor"]):
            break
    return [*reports, paged]


async def answer_times() -> list[tuple[str, int]]:
    """The report page's chart of answer times over the county, for the last day."""
    async with session_scope() as session:
        county = await session.get_one(Region, COUNTY)
        period = Period(utc_now() - timedelta(days=1), utc_now() + timedelta(days=1))
        return await charts.ack_times(session, Coverage(county, period, "actual"))


async def test_sealed_warnings_report_the_figures_their_calls_gave(
    client: AsyncClient, regions: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_db, "SPLIT_ABOVE", 2)  # rows aggregated in halves on PostgreSQL
    await roster(client)
    old = await a_warning_answered(client)
    await send_all()
    await report_back(client, old)
    recent = await a_warning_answered(client, area_codes=[TOWNSHIP])  # still open: counted from its calls
    cancelled = await client.post(f"/api/v1/warnings/{old['id']}/cancel", json={"kind": "lifted"})
    assert cancelled.status_code == 200, cancelled.text
    before, chart = await every_report(client), await answer_times()
    assert sum(count for _, count in chart) > sum(count for label, count in chart if label == charts.NEVER) > 0
    assert await seal_all() == []  # the week has not passed

    await close_long_ago(old["id"])
    assert await seal_all() == [old["id"]]
    after = await every_report(client)
    assert after == before and after[3] == after[1]
    assert await answer_times() == chart
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
    alerts = await calls(client, warning["id"], kind="alert")
    answered, silent, closed = alerts[0], alerts[1], alerts[2]
    taken = await client.post(f"/api/v1/calls/{answered['id']}/ack", json={"method": "phone", "note": "电话"})
    assert taken.status_code == 200, taken.text
    async with session_scope() as session:  # as if its ladder had run out
        await session.execute(update(Call).where(Call.id == silent["id"]).values(status="unanswered"))
    await client.post(f"/api/v1/warnings/{warning['id']}/cancel", json={"kind": "lifted"})
    await close_long_ago(warning["id"])

    late = await client.post(f"/api/v1/calls/{silent['id']}/ack", json={"method": "phone", "note": "电话"})
    assert late.status_code == 410 and "sealed" in late.json()["detail"], late.text
    cancelled = await client.post(f"/api/v1/calls/{closed['id']}/ack", json={"method": "phone", "note": "电话"})
    assert cancelled.status_code == 409, cancelled.text
    confirmed = await client.post(f"/api/v1/warnings/{warning['id']}/regions/{VILLAGE}/confirm", json={"note": "到过"})
    assert confirmed.status_code == 410, confirmed.text
    again = await client.post(
        f"/api/v1/warnings/{warning['id']}/regions/{answered['contact']['region_code']}/confirm", json={"note": "到过"}
    )
    assert again.status_code == 200 and again.json()["state"] == "reached", again.text
    elsewhere = await client.post(f"/api/v1/warnings/{warning['id']}/regions/110101000000/confirm", json={})
    assert elsewhere.status_code == 404, elsewhere.text
    async with session_scope() as session:
        call = await session.get_one(Call, silent["id"])
        region = await session.get_one(WarningRegion, (warning["id"], VILLAGE))
        assert call.acknowledged_at is None and call.status == "unanswered" and region.state == "uncovered"


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
