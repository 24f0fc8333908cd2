"""A county department that keeps a duty roster of its own: its officer on shift is whom the
whistle calls to report in (报到), its own people of the lowest rank in a gap; the roster is kept and
read like an office's, with the department's own people only."""

from datetime import timedelta
from typing import Any

from httpx import AsyncClient

from app.db import utc_now
from tests.factories import COUNTY, OTHER_TOWNSHIP, VILLAGE, bearer, create_contact, create_key
from tests.hazard.test_chain import people
from tests.web.pages import sign_in


def _shift(officer: dict[str, Any], *, starts_in: timedelta, hours: float = 8) -> dict[str, str]:
    starts = utc_now() + starts_in
    return {"starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=hours)).isoformat(),
            "officer_id": officer["id"]}  # fmt: skip


async def _whistled_calls(client: AsyncClient, who: dict[str, Any], department_id: str) -> list[dict[str, Any]]:
    body = {"region_code": VILLAGE, "category": "河堤渗水", "description": "河堤渗水", "source": "phone"}
    hazard = (await client.post("/api/v1/hazards", json=body)).json()
    whistle = {"department_ids": [department_id], "deadline_s": 600}
    assert (await client.post(f"/api/v1/hazards/{hazard['id']}/whistle", json=whistle)).status_code == 200
    detail = (await client.get(f"/api/v1/hazards/{hazard['id']}")).json()
    return [c for c in detail["calls"] if c["hazard_step"] == "dispatch"]


async def test_the_whistle_calls_the_departments_officer_on_shift(client: AsyncClient, regions: None) -> None:
    who = await people(client)
    water = who["water_dept"]["id"]
    night = await create_contact(client, COUNTY, name="水利局夜班", rank=7, department_id=water)
    put = await client.put(f"/api/v1/departments/{water}/duty",
                           json={"shifts": [_shift(night, starts_in=-timedelta(hours=1))]})  # fmt: skip
    assert put.status_code == 200, put.text
    assert put.json()["department_id"] == water and put.json()["region_code"] == COUNTY
    assert put.json()["shifts"][0]["department_id"] == water and put.json()["shifts"][0]["region_code"] is None
    duty = (await client.get(f"/api/v1/departments/{water}/duty")).json()
    assert duty["current"]["officer"]["name"] == "水利局夜班" and duty["fallback"] is False
    # The county's own desk is another roster: its officer's shift (from people()) stands beside it.
    county = (await client.get(f"/api/v1/duty/{COUNTY}")).json()
    assert county["current"]["officer"]["name"] == "县值班员" and county["department_id"] is None
    (call,) = await _whistled_calls(client, who, water)
    assert call["contact"]["name"] == "水利局夜班" and call["department_id"] == water
    timeline = (await client.get(f"/api/v1/hazards/{call['hazard_id']}/timeline", params={"limit": 100})).json()
    made = next(e for e in timeline["items"] if e["type"] == "call.created" and e["call_id"] == call["id"])
    assert made["data"]["via"] == "duty_officer" and made["data"]["shift_id"] == duty["current"]["id"]


async def test_in_a_gap_the_departments_first_rank_answers(client: AsyncClient, regions: None) -> None:
    who = await people(client)
    land = who["land_dept"]["id"]
    later = await create_contact(client, COUNTY, name="自然资源夜班", rank=7, department_id=land)
    shifts = {"shifts": [_shift(later, starts_in=timedelta(hours=2))]}
    assert (await client.put(f"/api/v1/departments/{land}/duty", json=shifts)).status_code == 200
    duty = (await client.get(f"/api/v1/departments/{land}/duty")).json()
    assert duty["current"] is None and duty["keeps_roster"] is True and duty["fallback"] is True
    (call,) = await _whistled_calls(client, who, land)
    assert call["contact"]["name"] == "自然资源值班"
    timeline = (await client.get(f"/api/v1/hazards/{call['hazard_id']}/timeline", params={"limit": 100})).json()
    made = next(e for e in timeline["items"] if e["type"] == "call.created" and e["call_id"] == call["id"])
    assert made["data"]["via"] == "rank_1" and made["data"]["duty_gap"] is True


async def test_a_department_roster_takes_its_own_people_from_its_own_county(client: AsyncClient, regions: None) -> None:
    who = await people(client)
    water = who["water_dept"]["id"]
    # The county's duty officer is not one of the water bureau's people; nor is the land bureau's.
    for outsider in (who["officer"], who["land"]):
        refused = await client.put(f"/api/v1/departments/{water}/duty",
                                   json={"shifts": [_shift(outsider, starts_in=timedelta(hours=1))]})  # fmt: skip
        assert refused.status_code == 422 and refused.json()["errors"][0]["type"] == "other_office"
    elsewhere = bearer(await create_key(client, "duty_officer", OTHER_TOWNSHIP))
    ok_shift = {"shifts": [_shift(who["water"], starts_in=timedelta(hours=1))]}
    assert (await client.put(f"/api/v1/departments/{water}/duty", json=ok_shift, headers=elsewhere)).status_code == 403
    assert (await client.put("/api/v1/departments/01XXXXXXXXXXXXXXXXXXXXXXXX/duty", json=ok_shift)).status_code == 404
    saved = await client.put(f"/api/v1/departments/{water}/duty", json=ok_shift)
    assert saved.status_code == 200
    events = (await client.get("/api/v1/audit/events", params={"type": "duty.changed", "limit": 10})).json()["items"]
    assert any(e["data"].get("department_id") == water for e in events)


async def test_the_countys_duty_page_says_who_each_department_has_on_duty(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    who = await people(client)
    water = who["water_dept"]["id"]
    night = await create_contact(client, COUNTY, name="水利局夜班", rank=7, department_id=water)
    shift = {"shifts": [_shift(night, starts_in=-timedelta(hours=1))]}
    assert (await client.put(f"/api/v1/departments/{water}/duty", json=shift)).status_code == 200
    await sign_in(anonymous, await create_key(client, "duty_officer", COUNTY))
    page = await anonymous.get(f"/console/duty/{COUNTY}")
    assert page.status_code == 200
    section = page.text.split('id="departments"', 1)[1].split("</section>", 1)[0]
    assert "<td>水利局</td><td>水利局夜班</td>" in section
    assert "<td>自然资源局</td>" in section and "未排班，呼叫其首位联系人" in section
