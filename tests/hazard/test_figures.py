"""Hazard figures for auditors: per township of a county, reports, taken and how fast, whistled and
how fast the departments reported in, resolved and how fast, and the satisfied share; as CSV too."""

import csv
import io
import re
from datetime import datetime, timedelta

from httpx import AsyncClient

from app.db import session_scope
from app.models.hazard import Hazard
from tests.factories import COUNTY, OTHER_TOWNSHIP, TOWNSHIP, VILLAGE, bearer, create_contact, create_key
from tests.hazard.test_chain import people, reply
from tests.web.pages import sign_in

OTHER_VILLAGE = "650107004001"


async def _two_townships_of_reports(client: AsyncClient) -> None:
    """In 艾维尔沟: one report taken after 2 min, whistled, reported in after 5, resolved, satisfied;
    one never taken, resolved, unsatisfied. In 乌拉泊: one report, not taken."""
    who = await people(client)
    await create_contact(client, OTHER_TOWNSHIP, name="乌拉泊书记")
    body = {"region_code": VILLAGE, "category": "山体裂缝", "description": "裂缝", "source": "phone"}
    first = (await client.post("/api/v1/hazards", json=body)).json()
    made = datetime.fromisoformat(first["created_at"])
    await reply(who["township"]["phone"], text="收到", now=made + timedelta(seconds=120))
    whistle = {"department_ids": [who["water_dept"]["id"]], "deadline_s": 600}
    await client.post(f"/api/v1/hazards/{first['id']}/whistle", json=whistle)
    async with session_scope() as session:
        whistled = await session.get_one(Hazard, first["id"])
        dispatched_at = whistled.dispatched_at
    assert dispatched_at is not None
    await reply(who["water"]["phone"], digits="1", now=dispatched_at + timedelta(seconds=300))
    await client.post(f"/api/v1/hazards/{first['id']}/progress", json={"status": "resolved", "note": "已处置"})
    await client.post(f"/api/v1/hazards/{first['id']}/evaluation", json={"rating": "satisfied"})
    second = (await client.post("/api/v1/hazards", json=body | {"description": "又一处"})).json()
    await client.post(f"/api/v1/hazards/{second['id']}/progress", json={"status": "resolved", "note": "误报"})
    await client.post(f"/api/v1/hazards/{second['id']}/evaluation", json={"rating": "unsatisfied"})
    await client.post("/api/v1/hazards", json=body | {"region_code": OTHER_VILLAGE})


async def test_the_hazard_report_counts_the_chain_upward_by_township(client: AsyncClient, regions: None) -> None:
    await _two_townships_of_reports(client)
    auditor = bearer(await create_key(client, "auditor", COUNTY))
    params = {"region_code": COUNTY, "group_by": "township"}
    rows = (await client.get("/api/v1/reports/hazards", params=params, headers=auditor)).json()["items"]
    by_code = {row["region_code"]: row for row in rows}
    assert set(by_code) == {TOWNSHIP, OTHER_TOWNSHIP}
    ours = by_code[TOWNSHIP]
    assert ours["name"] == "艾维尔沟街道" and ours["reports"] == 2 and ours["received"] == 1
    assert ours["median_receive_s"] == 120 and ours["dispatched"] == 1 and ours["median_report_in_s"] == 300
    assert ours["resolved"] == 2 and ours["median_resolve_s"] is not None and ours["satisfied_rate"] == 0.5
    theirs = by_code[OTHER_TOWNSHIP]
    assert theirs["reports"] == 1 and theirs["received"] == 0 and theirs["satisfied_rate"] is None
    county = (await client.get("/api/v1/reports/hazards", params={"region_code": COUNTY}, headers=auditor)).json()
    assert [(r["region_code"], r["reports"]) for r in county["items"]] == [(COUNTY, 3)]
    exported = await client.get("/api/v1/reports/hazards", params=params | {"format": "csv"}, headers=auditor)
    assert exported.status_code == 200 and exported.content.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert lines[0][:3] == ["region_code", "name", "reports"] and len(lines) == 3
    elsewhere = await client.get("/api/v1/reports/hazards", params={"region_code": "650100"}, headers=auditor)
    assert elsewhere.status_code == 403


async def test_the_console_report_charts_the_chain_upward(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    await _two_townships_of_reports(client)
    await sign_in(anonymous, await create_key(client, "auditor", COUNTY))
    page = await anonymous.get("/console/reports", params={"region_code": COUNTY, "group_by": "township"})
    assert page.status_code == 200
    section = page.text.split('id="hazards"', 1)[1].split("</section>", 1)[0]
    assert 'aria-label="险情链条各环节"' in section and 'aria-label="接报用时"' in section
    # The chain's columns: 3 made, 1 taken (short of made: orange), 1 whistled, 2 resolved (orange).
    columns = re.findall(r'fill="(#[0-9a-f]+)"><title>(上报|接报|吹哨|办结)：(\d+)</title>', section)
    assert columns == [("#1a73e8", "上报", "3"), ("#e8710a", "接报", "1"), ("#1a73e8", "吹哨", "1"),
                       ("#e8710a", "办结", "2")]  # fmt: skip
    assert "艾维尔沟街道：2分钟" in section and "乌拉泊街道：" not in section  # only a township that took any
    assert "50.0%" in section
    exported = await anonymous.get(
        "/console/reports/hazards.csv", params={"region_code": COUNTY, "group_by": "township"}
    )
    api = await client.get("/api/v1/reports/hazards", params={"region_code": COUNTY, "group_by": "township",
                                                              "format": "csv"})  # fmt: skip
    assert exported.status_code == 200 and exported.content == api.content
