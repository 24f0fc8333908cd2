"""Keeping a roster: the past stays as it was, times come back in UTC, a refusal stays small, and
the people routed to are the office's own."""

from datetime import UTC, datetime, timedelta

from httpx import AsyncClient

from app.call import chase as call_chase
from app.db import utc_now
from app.duty import handover
from app.models.duty import DutyShift
from tests.duty.test_duty import county_office, escalation_calls, red_at, shift, tomorrow, week
from tests.factories import COUNTY, OTHER_TOWNSHIP, TOWNSHIP, bearer, create_contact, create_key


async def put(client: AsyncClient, code: str, shifts: list[dict], **kwargs: object) -> dict:
    response = await client.put(f"/api/v1/duty/{code}", json={"shifts": shifts}, **kwargs)  # type: ignore[arg-type]
    return {"status": response.status_code, **response.json()}


async def test_the_shift_in_force_left_out_ends_now_and_stays_on_the_record(client: AsyncClient, regions: None) -> None:
    people = await county_office(client)
    now = utc_now()
    started = now - timedelta(hours=3)
    night = shift(started, now + timedelta(hours=5), people["night"])
    assert (await put(client, COUNTY, [night]))["status"] == 200
    # Another officer from the same start: the shift in force was real until now, and is not overwritten.
    swapped = await put(client, COUNTY, [shift(started, now + timedelta(hours=5), people["day"])])
    assert swapped["status"] == 422
    assert [e["type"] for e in swapped["errors"]] == ["overlaps_in_force"]
    # From now on, then: the night officer's shift ends now and keeps its past.
    later = shift(utc_now() + timedelta(seconds=1), now + timedelta(hours=5), people["day"])
    replaced = await put(client, COUNTY, [later])
    assert replaced["status"] == 200 and [s["officer"]["name"] for s in replaced["shifts"]] == ["白班值班员"]
    earlier = (await client.get(f"/api/v1/duty/{COUNTY}", params={"at": (now - timedelta(hours=1)).isoformat()})).json()
    assert earlier["current"]["officer"]["name"] == "夜班值班员"
    assert datetime.fromisoformat(earlier["current"]["starts_at"]) == started
    events = (await client.get("/api/v1/audit/events", params={"type": "duty.changed"})).json()["items"]
    assert events[-1]["data"]["ended_now"]["officer"]["name"] == "夜班值班员"


async def test_the_shift_in_force_sent_again_with_an_end_past_ends_now(client: AsyncClient, regions: None) -> None:
    people = await county_office(client)
    now = utc_now()
    night = shift(now - timedelta(hours=3), now + timedelta(hours=5), people["night"])
    assert (await put(client, COUNTY, [night]))["status"] == 200
    ended = await put(client, COUNTY, [night | {"ends_at": (now - timedelta(hours=1)).isoformat()}])
    assert ended["status"] == 200 and ended["shifts"] == []
    duty = (await client.get(f"/api/v1/duty/{COUNTY}")).json()
    assert duty["current"] is None and duty["fallback"] is True


async def test_a_new_shift_begins_a_day_ago_at_the_earliest(client: AsyncClient, regions: None) -> None:
    people = await county_office(client)
    now = utc_now()
    old = await put(client, COUNTY, [shift(now - timedelta(days=20), now + timedelta(hours=1), people["night"])])
    assert old["status"] == 422 and old["errors"][0]["type"] == "too_early"
    late = await put(client, COUNTY, [shift(now - timedelta(hours=2), now + timedelta(hours=10), people["night"])])
    assert late["status"] == 200  # tonight's shift, entered after it began


async def test_times_come_back_in_utc_and_the_same_roster_twice_is_one_change(
    client: AsyncClient, regions: None
) -> None:
    people = await county_office(client)
    beijing = [
        shift(tomorrow(8), tomorrow(20), people["day"]),
        shift(tomorrow(20), tomorrow(8, days=2), people["night"]),
    ]
    assert all("+08:00" in s["starts_at"] for s in beijing)
    first = await put(client, COUNTY, beijing)
    in_utc = [moment.astimezone(UTC).isoformat().replace("+00:00", "Z") for moment in (tomorrow(8), tomorrow(20))]
    assert [s["starts_at"] for s in first["shifts"]] == in_utc
    second = await put(client, COUNTY, beijing)
    assert [s["id"] for s in second["shifts"]] == [s["id"] for s in first["shifts"]]
    events = (await client.get("/api/v1/audit/events", params={"type": "duty.changed"})).json()["items"]
    assert len(events) == 1 and events[0]["data"]["after"][0]["starts_at"].endswith("+00:00")


async def test_a_roster_of_a_thousand_clashing_lines_is_refused_in_few_words(
    client: AsyncClient, regions: None
) -> None:
    people = await county_office(client)
    same = shift(tomorrow(8), tomorrow(20), people["day"])
    response = await client.put(f"/api/v1/duty/{COUNTY}", json={"shifts": [same] * 1000})
    assert response.status_code == 422
    assert len(response.content) < 40_000 and len(response.json()["errors"]) == 100
    lines = [e["loc"][2] for e in response.json()["errors"]]
    assert len(lines) == len(set(lines))  # each line named once


async def test_who_may_write_is_checked_before_the_body(client: AsyncClient, regions: None) -> None:
    auditor = bearer(await create_key(client, "auditor", COUNTY))
    assert (await client.put(f"/api/v1/duty/{COUNTY}", json={"shifts": "nonsense"}, headers=auditor)).status_code == 403
    handover = await client.post(f"/api/v1/duty/{COUNTY}/handover", json={"note": 5}, headers=auditor)
    assert handover.status_code == 403


async def test_handovers_are_read_inside_ones_own_area_only(client: AsyncClient, regions: None) -> None:
    people = await county_office(client)
    now = utc_now()
    night = shift(now - timedelta(hours=10), now + timedelta(hours=1), people["night"])
    assert (await put(client, COUNTY, [night]))["status"] == 200
    assert (await client.post(f"/api/v1/duty/{COUNTY}/handover", json={"note": "甲村未叫应"})).status_code == 201
    township = bearer(await create_key(client, "duty_officer", OTHER_TOWNSHIP))
    assert (await client.get(f"/api/v1/duty/{COUNTY}", headers=township)).status_code == 200  # who is on duty above
    assert (await client.get(f"/api/v1/duty/{COUNTY}/handovers", headers=township)).status_code == 403
    county = bearer(await create_key(client, "auditor", COUNTY))
    (item,) = (await client.get(f"/api/v1/duty/{COUNTY}/handovers", headers=county)).json()["items"]
    assert "****" in item["from_officer"]["phone"]


def test_a_handover_early_in_a_shift_is_the_previous_shifts() -> None:
    now = utc_now()
    night = DutyShift(id="night", starts_at=now - timedelta(hours=12, minutes=10), ends_at=now - timedelta(minutes=10))
    day = DutyShift(id="day", starts_at=now - timedelta(minutes=10), ends_at=now + timedelta(hours=12))
    evening = DutyShift(id="evening", starts_at=now + timedelta(hours=12), ends_at=now + timedelta(hours=24))
    assert handover.sides(day, night, [evening], now) == (night, day)  # ten minutes into the day shift
    late = now + timedelta(hours=11)
    assert handover.sides(day, night, [evening], late) == (day, evening)  # an hour before its end
    assert handover.sides(None, night, [evening], now) == (night, evening)  # between shifts
    assert handover.sides(day, None, [], now) == (day, None)


async def test_a_township_desk_that_does_not_answer_goes_on_to_the_county_desk(
    client: AsyncClient, regions: None
) -> None:
    people = await county_office(client)
    await week(client, people)
    officer = await create_contact(client, TOWNSHIP, name="街道值班员", rank=4)
    assert (await put(client, TOWNSHIP, [shift(tomorrow(0), tomorrow(8), officer)]))["status"] == 200
    warning_id = await red_at(tomorrow(2, 55))
    await call_chase.chase_due(now=tomorrow(3, 0))
    await call_chase.chase_due(now=tomorrow(3, 5))  # the township's officer did not answer either
    found = await escalation_calls(client, warning_id)
    by_name = {c["contact"]["name"]: c for c in found}
    assert by_name["街道值班员"]["status"] == "unanswered"
    assert {"夜班值班员", "带班领导"} <= set(by_name) and "县应急局局长" not in by_name


async def test_a_leader_moved_to_another_office_is_not_called(client: AsyncClient, regions: None) -> None:
    people = await county_office(client)
    await week(client, people)
    moved = await client.patch(f"/api/v1/contacts/{people['leader']['id']}", json={"region_code": OTHER_TOWNSHIP})
    assert moved.status_code == 200
    warning_id = await red_at(tomorrow(2, 55))
    await call_chase.chase_due(now=tomorrow(3, 0))
    assert [c["contact"]["name"] for c in await escalation_calls(client, warning_id)] == ["夜班值班员"]
