"""Issuing a warning: expansion down the tree, one call per person, uncovered regions, modes, idempotency."""

from datetime import datetime, timedelta

import pytest
from httpx import AsyncClient

from tests.conftest import ADMIN_TOKEN
from tests.factories import (
    COUNTY,
    OTHER_TOWNSHIP,
    TOWNSHIP,
    VILLAGE,
    bearer,
    calls,
    create_contact,
    create_key,
    issue,
    outbox,
    roster,
    send_all,
    warning_body,
)
from tests.web.pages import sign_in

COUNTY_REGIONS = 50  # 达坂城区: the county, 8 townships, 41 villages


async def test_red_warning_calls_everyone_of_the_county(client: AsyncClient, regions: None) -> None:
    phones = await roster(client)
    warning = await issue(client)
    people = sum(len(numbers) for numbers in phones.values())
    assert warning["status"] == "active" and warning["mode"] == "actual"
    assert warning["calls"] == {"total": people, "by_status": {"pending": people}}
    assert warning["escalations"] == {"total": 0, "by_status": {}}
    assert warning["targeted_regions"] == COUNTY_REGIONS
    assert warning["uncovered_area_codes"] == []
    created = datetime.fromisoformat(warning["created_at"])
    made = await calls(client, warning["id"])
    assert len(made) == people and {c["kind"] for c in made} == {"alert"}
    assert all(datetime.fromisoformat(c["deadline_at"]) == created + timedelta(seconds=300) for c in made)
    village_call = next(c for c in made if c["contact"]["phone"] == phones[VILLAGE][0])
    assert village_call["region_codes"] == [VILLAGE] and village_call["contact"]["rank"] == 1


async def test_one_call_per_phone_across_regions_and_overlapping_areas(client: AsyncClient, regions: None) -> None:
    person = await create_contact(client, VILLAGE, phone="13900000001")
    await create_contact(client, TOWNSHIP, phone="13900000001", rank=2)
    warning = await issue(client, area_codes=[COUNTY, TOWNSHIP, VILLAGE])
    made = await calls(client, warning["id"], kind="alert")
    assert len(made) == 1
    assert sorted(made[0]["region_codes"]) == sorted([TOWNSHIP, VILLAGE])
    assert made[0]["contact"]["id"] == person["id"]


async def test_uncovered_regions_are_reported(client: AsyncClient, regions: None) -> None:
    await roster(client, skip=(VILLAGE, OTHER_TOWNSHIP))
    warning = await issue(client)
    assert warning["uncovered_area_codes"] == [VILLAGE, OTHER_TOWNSHIP] or sorted(
        warning["uncovered_area_codes"]
    ) == sorted([VILLAGE, OTHER_TOWNSHIP])
    board = (await client.get(f"/api/v1/warnings/{warning['id']}/regions", params={"state": "uncovered"})).json()
    assert sorted(r["region_code"] for r in board["items"]) == sorted([VILLAGE, OTHER_TOWNSHIP])


async def test_yellow_reaches_townships_and_villages_only(client: AsyncClient, regions: None) -> None:
    phones = await roster(client)
    warning = await issue(client, level="yellow")
    assert warning["targeted_regions"] == COUNTY_REGIONS - 1
    called = {c["contact"]["phone"] for c in await calls(client, warning["id"])}
    assert phones[COUNTY][0] not in called and phones[VILLAGE][0] in called


async def test_abolished_regions_are_not_targeted(client: AsyncClient, regions: None) -> None:
    await roster(client)
    header = "code,name,level,parent_code,abolished"
    body = f"{header}\n{VILLAGE},艾维尔沟村,village,{TOWNSHIP},true\n".encode()
    await client.post("/api/v1/regions/import", content=body, headers={"Content-Type": "text/csv"})
    warning = await issue(client)
    assert warning["targeted_regions"] == COUNTY_REGIONS - 1
    assert all(VILLAGE not in c["region_codes"] for c in await calls(client, warning["id"]))


async def test_test_mode_records_the_fan_out_and_sends_nothing(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    await roster(client)
    warning = await issue(client, mode="test")
    assert set(warning["calls"]["by_status"]) == {"cancelled"}
    assert await send_all() == 0
    assert await outbox(client) == []
    # A dry run is on record, closed at once: never active, not on the console's list of active ones.
    assert warning["status"] == "cancelled" and warning["closed_at"] is not None
    active = (await client.get("/api/v1/warnings", params={"status": "active"})).json()["items"]
    assert warning["id"] not in [w["id"] for w in active]
    await sign_in(anonymous, ADMIN_TOKEN)
    home = (await anonymous.get("/console")).text
    assert warning["id"] not in home.split("最近结束的预警")[0] and warning["id"] in home
    board = (await anonymous.get(f"/console/warnings/{warning['id']}")).text
    assert "测试完毕（未发送）" in board and "已解除" not in board
    types = [e["type"] for e in (await client.get(f"/api/v1/warnings/{warning['id']}/timeline")).json()["items"]]
    assert types[-1] == "warning.cancelled"


async def test_exercise_messages_say_drill(client: AsyncClient, regions: None) -> None:
    await create_contact(client)
    warning = await issue(client, mode="exercise")
    await send_all()
    messages = await outbox(client, warning["id"])
    assert messages and all("演练" in m["text"] for m in messages)


async def test_idempotency_key_replays_the_same_warning(client: AsyncClient, regions: None) -> None:
    await create_contact(client)
    headers = {"Idempotency-Key": "issue-1"}
    first = await client.post("/api/v1/warnings", json=warning_body(), headers=headers)
    assert first.status_code == 201
    reordered = dict(reversed(list(warning_body(mode="actual").items())))
    again = await client.post("/api/v1/warnings", json=reordered, headers=headers)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    other = await client.post("/api/v1/warnings", json=warning_body(level="orange"), headers=headers)
    assert other.status_code == 409
    assert other.headers["content-type"] == "application/problem+json"
    listed = (await client.get("/api/v1/warnings")).json()["items"]
    assert [w["id"] for w in listed] == [first.json()["id"]]


async def test_idempotency_keys_are_scoped_to_the_caller(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    await create_contact(client)
    token = await create_key(client, "duty_officer", COUNTY)
    headers = {"Idempotency-Key": "same"}
    mine = await client.post("/api/v1/warnings", json=warning_body(), headers=headers)
    theirs = await anonymous.post("/api/v1/warnings", json=warning_body(), headers={**headers, **bearer(token)})
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]


BAD = {
    "unknown areas": ({"area_codes": ["650107999999", "659999"]}, 422),
    "empty areas": ({"area_codes": []}, 422),
    "unknown level": ({"level": "purple"}, 422),
    "expires before onset": (
        {"onset": "2026-12-01T10:00:00+08:00", "expires": "2026-12-01T09:00:00+08:00"},
        422,
    ),
    "naive time": ({"onset": "2026-12-01T10:00:00"}, 422),
    "unknown mode": ({"mode": "drill"}, 422),
    "no title": ({"title": ""}, 422),
}


@pytest.mark.parametrize("case", BAD)
async def test_bad_warnings_are_refused_and_nothing_written(client: AsyncClient, regions: None, case: str) -> None:
    await create_contact(client)
    fields, status = BAD[case]
    response = await client.post("/api/v1/warnings", json=warning_body(**fields))
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert (await client.get("/api/v1/warnings")).json()["items"] == []


async def test_unknown_areas_are_each_named(client: AsyncClient, regions: None) -> None:
    response = await client.post("/api/v1/warnings", json=warning_body(area_codes=["650107999999", "659999"]))
    problem = response.json()
    assert "650107999999" in problem["detail"] and "659999000000" in problem["detail"]
    assert [e["loc"] for e in problem["errors"]] == [["body", "area_codes", 0], ["body", "area_codes", 1]]


async def test_areas_outside_the_callers_region_are_403(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    token = await create_key(client, "duty_officer", TOWNSHIP)
    response = await anonymous.post("/api/v1/warnings", json=warning_body(), headers=bearer(token))
    assert response.status_code == 403
    inside = await anonymous.post("/api/v1/warnings", json=warning_body(area_codes=[VILLAGE]), headers=bearer(token))
    assert inside.status_code == 201
    auditor = await create_key(client, "auditor")
    assert (await anonymous.post("/api/v1/warnings", json=warning_body(), headers=bearer(auditor))).status_code == 403


async def test_reading_needs_overlap_and_calls_are_scoped(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    phones = await roster(client)
    warning = await issue(client)
    township_officer = await create_key(client, "duty_officer", TOWNSHIP)
    seen = await anonymous.get(f"/api/v1/warnings/{warning['id']}/calls", headers=bearer(township_officer))
    in_township = {p for code, numbers in phones.items() if code.startswith(TOWNSHIP[:9]) for p in numbers}
    assert {c["contact"]["phone"] for c in seen.json()["items"]} == in_township
    dongguan = await create_key(client, "auditor", "441900")
    assert (await anonymous.get(f"/api/v1/warnings/{warning['id']}", headers=bearer(dongguan))).status_code == 403
    auditor = await create_key(client, "auditor", COUNTY)
    masked = (await anonymous.get(f"/api/v1/warnings/{warning['id']}/calls", headers=bearer(auditor))).json()
    assert all("****" in c["contact"]["phone"] for c in masked["items"])


async def test_the_call_keeps_the_person_as_they_were(client: AsyncClient, regions: None) -> None:
    contact = await create_contact(client, name="王五")
    warning = await issue(client)
    await client.patch(f"/api/v1/contacts/{contact['id']}", json={"name": "王五（已调离）"})
    assert (await calls(client, warning["id"]))[0]["contact"]["name"] == "王五"
