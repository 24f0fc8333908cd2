"""The duty desk (值班值守): rosters of shifts, routing to the officer on duty, gaps, handovers.

Times are passed in where the chain moves (services take `now`): "03:00" is tomorrow's 03:00,
Beijing time, so the roster is always in the future of the clock the API reads."""

from datetime import datetime, timedelta
from typing import Any

from httpx import AsyncClient

from app.auth.service import Principal
from app.call import chase as call_chase
from app.db import session_scope, utc_now
from app.times import BEIJING
from app.warning import service as warning_service
from app.warning.schemas import WarningIn
from tests.factories import (
    COUNTY,
    CSV,
    OTHER_TOWNSHIP,
    TOWNSHIP,
    VILLAGE,
    bearer,
    calls,
    create_contact,
    create_key,
    csv_body,
)

OTHER_COUNTY = "650109000000"  # 米东区, imported by the tests that need a second county


def tomorrow(hour: int, minute: int = 0, days: int = 1) -> datetime:
    """A Beijing wall-clock time `days` after today (Beijing's today)."""
    today = utc_now().astimezone(BEIJING).date()
    return datetime(today.year, today.month, today.day, hour, minute, tzinfo=BEIJING) + timedelta(days=days)


def shift(starts: datetime, ends: datetime, officer: dict[str, Any], leader: dict[str, Any] | None = None) -> dict:
    body = {"starts_at": starts.isoformat(), "ends_at": ends.isoformat(), "officer_id": officer["id"]}
    return body | ({"leader_id": leader["id"]} if leader else {})


async def county_office(client: AsyncClient) -> dict[str, dict[str, Any]]:
    """The county's people: its rank-1 head, a day and a night officer, a leader in charge; one
    village contact below a township with nobody on record, so the village goes up to the county."""
    people = {
        "head": await create_contact(client, COUNTY, name="县应急局局长", role="局长", rank=1),
        "day": await create_contact(client, COUNTY, name="白班值班员", role="值班员", rank=3),
        "night": await create_contact(client, COUNTY, name="夜班值班员", role="值班员", rank=3),
        "leader": await create_contact(client, COUNTY, name="带班领导", role="副局长", rank=2),
        "village": await create_contact(client, VILLAGE, name="村委会主任"),
    }
    return people


async def week(client: AsyncClient, people: dict[str, dict[str, Any]]) -> None:
    """Day shifts 08:00–20:00 and night shifts 20:00–08:00 around tomorrow, the leader on nights."""
    shifts = []
    for day in (1, 2, 3):
        shifts.append(shift(tomorrow(8, days=day), tomorrow(20, days=day), people["day"]))
        shifts.append(shift(tomorrow(20, days=day - 1), tomorrow(8, days=day), people["night"], people["leader"]))
    response = await client.put(f"/api/v1/duty/{COUNTY}", json={"shifts": shifts})
    assert response.status_code == 200, response.text


async def red_at(moment: datetime, level: str = "red") -> str:
    """A warning on the village issued at `moment`, as the API would issue it (time passed in)."""
    body = WarningIn(hazard="暴雨", level=level, title="暴雨预警", area_codes=[VILLAGE])
    async with session_scope() as session:
        warning, _ = await warning_service.issue_warning(
            session, body, principal=Principal(name="admin", role="admin"), idempotency_key=None, now=moment,
            fanout_above=200_000,
        )  # fmt: skip
        return warning.id


async def escalation_calls(client: AsyncClient, warning_id: str) -> list[dict[str, Any]]:
    return sorted(await calls(client, warning_id, kind="escalation"), key=lambda c: c["contact"]["name"])


# Escalations at night


async def test_an_escalation_at_three_goes_to_the_night_officer_and_on_red_to_the_leader(
    client: AsyncClient, regions: None
) -> None:
    people = await county_office(client)
    await week(client, people)
    warning_id = await red_at(tomorrow(2, 55))
    await call_chase.chase_due(now=tomorrow(3, 0))
    found = await escalation_calls(client, warning_id)
    assert {c["contact"]["id"] for c in found} == {people["leader"]["id"], people["night"]["id"]}
    assert all(c["about_region_codes"] == [VILLAGE] for c in found)
    assert people["head"]["id"] not in {c["contact"]["id"] for c in found}  # rank 1, asleep, not called
    events = (await client.get(f"/api/v1/warnings/{warning_id}/timeline", params={"limit": 1000})).json()["items"]
    routed = {e["data"]["to"]["name"]: e["data"]["via"] for e in events if e["type"] == "call.escalated"}
    assert routed == {"夜班值班员": "duty_officer", "带班领导": "duty_leader"}


async def test_an_orange_escalation_goes_to_the_officer_alone_and_by_day_to_the_day_officer(
    client: AsyncClient, regions: None
) -> None:
    people = await county_office(client)
    await week(client, people)
    warning_id = await red_at(tomorrow(14, 0), level="orange")
    await call_chase.chase_due(now=tomorrow(14, 10))  # orange: 600 s
    assert [c["contact"]["name"] for c in await escalation_calls(client, warning_id)] == ["白班值班员"]


async def test_a_gap_in_the_roster_falls_back_to_rank_one_and_says_so(client: AsyncClient, regions: None) -> None:
    people = await county_office(client)
    shifts = [
        shift(tomorrow(20, days=0), tomorrow(2), people["night"]),
        shift(tomorrow(8), tomorrow(20), people["day"]),
    ]
    assert (await client.put(f"/api/v1/duty/{COUNTY}", json={"shifts": shifts})).status_code == 200
    warning_id = await red_at(tomorrow(2, 55))
    await call_chase.chase_due(now=tomorrow(3, 0))
    (call,) = await escalation_calls(client, warning_id)
    assert call["contact"]["id"] == people["head"]["id"]
    events = (await client.get(f"/api/v1/warnings/{warning_id}/timeline", params={"limit": 1000})).json()["items"]
    (escalated,) = [e for e in events if e["type"] == "call.escalated"]
    assert escalated["data"]["via"] == "rank_1" and escalated["data"]["duty_gap"] is True
    duty = (await client.get(f"/api/v1/duty/{COUNTY}", params={"at": tomorrow(3, 0).isoformat()})).json()
    assert duty["current"] is None and duty["fallback"] is True
    assert datetime.fromisoformat(duty["next_gap"]["starts_at"]) == tomorrow(3, 0)
    assert datetime.fromisoformat(duty["next_gap"]["ends_at"]) == tomorrow(8)
    assert duty["at"].endswith("Z")
    before = (await client.get(f"/api/v1/duty/{COUNTY}", params={"at": tomorrow(1, 0).isoformat()})).json()
    assert before["fallback"] is False and before["current"]["officer"]["name"] == "夜班值班员"
    assert datetime.fromisoformat(before["next_gap"]["starts_at"]) == tomorrow(2)
    assert datetime.fromisoformat(before["next_gap"]["ends_at"]) == tomorrow(8)


async def test_an_officer_taken_off_the_roster_leaves_a_gap(client: AsyncClient, regions: None) -> None:
    people = await county_office(client)
    await week(client, people)
    assert (await client.delete(f"/api/v1/contacts/{people['night']['id']}")).status_code == 200
    warning_id = await red_at(tomorrow(2, 55))
    await call_chase.chase_due(now=tomorrow(3, 0))
    assert [c["contact"]["name"] for c in await escalation_calls(client, warning_id)] == ["县应急局局长"]


async def test_a_region_without_a_roster_still_goes_to_rank_one(client: AsyncClient, regions: None) -> None:
    people = await county_office(client)
    warning_id = await red_at(tomorrow(2, 55))
    await call_chase.chase_due(now=tomorrow(3, 0))
    (call,) = await escalation_calls(client, warning_id)
    assert call["contact"]["id"] == people["head"]["id"]
    duty = (await client.get(f"/api/v1/duty/{COUNTY}")).json()
    assert duty == duty | {"current": None, "next": [], "keeps_roster": False, "fallback": False, "next_gap": None}


async def test_a_township_on_duty_takes_its_villages_before_the_county(client: AsyncClient, regions: None) -> None:
    people = await county_office(client)
    await week(client, people)
    rank_one = await create_contact(client, TOWNSHIP, name="街道书记", rank=1)
    officer = await create_contact(client, TOWNSHIP, name="街道值班员", rank=4)
    night = {"shifts": [shift(tomorrow(0), tomorrow(8), officer)]}
    assert (await client.put(f"/api/v1/duty/{TOWNSHIP}", json=night)).status_code == 200
    warning_id = await red_at(tomorrow(2, 55))
    await call_chase.chase_due(now=tomorrow(3, 0))
    assert [c["contact"]["id"] for c in await escalation_calls(client, warning_id)] == [officer["id"]]
    assert rank_one["id"] != officer["id"]


# The roster


async def test_overlapping_shifts_are_refused_with_the_lines_that_clash(client: AsyncClient, regions: None) -> None:
    people = await county_office(client)
    shifts = [
        shift(tomorrow(8), tomorrow(20), people["day"]),
        shift(tomorrow(20), tomorrow(8, days=2), people["night"]),
        shift(tomorrow(19), tomorrow(21), people["leader"]),  # clashes with both
    ]
    response = await client.put(f"/api/v1/duty/{COUNTY}", json={"shifts": shifts})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    clashing = sorted({tuple(e["loc"]) for e in response.json()["errors"]})
    assert clashing == [("body", "shifts", 0), ("body", "shifts", 1), ("body", "shifts", 2)]
    assert "overlaps shift 2" in " ".join(e["msg"] for e in response.json()["errors"])
    assert (await client.get(f"/api/v1/duty/{COUNTY}")).json()["next"] == []  # nothing changed


async def test_a_roster_is_checked_whole(client: AsyncClient, regions: None) -> None:
    people = await county_office(client)
    now = utc_now()
    bad = [
        shift(now - timedelta(hours=3), now - timedelta(hours=1), people["day"]),  # already ended
        shift(tomorrow(9), tomorrow(8), people["day"]),  # ends before it starts
        shift(tomorrow(20), tomorrow(22), people["village"]),  # not on the county's roster
        shift(tomorrow(22), tomorrow(23), people["night"]) | {"leader_id": "nobody"},
    ]
    response = await client.put(f"/api/v1/duty/{COUNTY}", json={"shifts": bad})
    assert response.status_code == 422
    where = {tuple(e["loc"]) for e in response.json()["errors"]}
    assert where == {("body", "shifts", 0, "ends_at"), ("body", "shifts", 1, "ends_at"),
                     ("body", "shifts", 2, "officer_id"), ("body", "shifts", 3, "leader_id")}  # fmt: skip
    village = await client.put(f"/api/v1/duty/{VILLAGE}", json={"shifts": []})
    assert village.status_code == 422 and "village" in village.json()["detail"]
    naive = {"starts_at": "2030-01-01T08:00:00", "ends_at": "2030-01-01T20:00:00", "officer_id": people["day"]["id"]}
    naive_response = await client.put(f"/api/v1/duty/{COUNTY}", json={"shifts": [naive]})
    assert naive_response.status_code == 422 and "timezone" in naive_response.text
    assert (await client.put("/api/v1/duty/999999", json={"shifts": []})).status_code == 404


async def test_a_new_roster_replaces_what_has_not_ended_and_keeps_a_shift_sent_again(
    client: AsyncClient, regions: None
) -> None:
    people = await county_office(client)
    now = utc_now()
    in_force = shift(now - timedelta(hours=2), now + timedelta(hours=2), people["night"])
    later = shift(now + timedelta(hours=2), now + timedelta(hours=14), people["day"])
    first = (await client.put(f"/api/v1/duty/{COUNTY}", json={"shifts": [in_force, later]})).json()["shifts"]
    again = (await client.put(f"/api/v1/duty/{COUNTY}", json={"shifts": [in_force, later]})).json()["shifts"]
    assert [s["id"] for s in again] == [s["id"] for s in first]
    longer = in_force | {"ends_at": (now + timedelta(hours=4)).isoformat()}
    moved = shift(now + timedelta(hours=4), now + timedelta(hours=16), people["day"])
    third = (await client.put(f"/api/v1/duty/{COUNTY}", json={"shifts": [longer, moved]})).json()["shifts"]
    assert third[0]["id"] == first[0]["id"] and third[1]["id"] != first[1]["id"]
    duty = (await client.get(f"/api/v1/duty/{COUNTY}")).json()
    assert duty["current"]["id"] == first[0]["id"]
    assert datetime.fromisoformat(duty["current"]["ends_at"]) == now + timedelta(hours=4)
    assert [s["id"] for s in duty["next"]] == [third[1]["id"]]
    events = (await client.get("/api/v1/audit/events", params={"type": "duty.changed"})).json()["items"]
    assert len(events) == 2  # the same roster sent twice is one change
    assert [s["officer"]["name"] for s in events[-1]["data"]["before"]] == ["夜班值班员", "白班值班员"]
    verify = (await client.get("/api/v1/audit/verify")).json()
    assert verify["ok"] is True


async def test_a_duty_officer_keeps_the_rosters_of_their_own_county_only(client: AsyncClient, regions: None) -> None:
    lines = ["code,name,level,parent_code", "650109000000,米东区,county,650100000000",
             "650109001000,石化街道,township,650109000000"]  # fmt: skip
    assert (await client.post("/api/v1/regions/import", content=csv_body(*lines), headers=CSV)).status_code == 200
    people = await county_office(client)
    other = await create_contact(client, OTHER_COUNTY, name="米东值班员")
    officer = bearer(await create_key(client, "duty_officer", COUNTY))
    township_officer = bearer(await create_key(client, "duty_officer", TOWNSHIP))
    auditor = bearer(await create_key(client, "auditor", COUNTY))
    theirs = {"shifts": [shift(tomorrow(8), tomorrow(20), other)]}
    ours = {"shifts": [shift(tomorrow(8), tomorrow(20), people["day"])]}
    assert (await client.put(f"/api/v1/duty/{OTHER_COUNTY}", json=theirs, headers=officer)).status_code == 403
    assert (await client.get(f"/api/v1/duty/{OTHER_COUNTY}", headers=officer)).status_code == 403
    assert (await client.put(f"/api/v1/duty/{COUNTY}", json=ours, headers=township_officer)).status_code == 403
    assert (await client.put(f"/api/v1/duty/{COUNTY}", json=ours, headers=auditor)).status_code == 403
    assert (await client.put(f"/api/v1/duty/{COUNTY}", json=ours, headers=officer)).status_code == 200
    assert (await client.put(f"/api/v1/duty/{OTHER_TOWNSHIP}", json={"shifts": []}, headers=officer)).status_code == 200
    # Reading: one's own subtree and the offices above it (who is on duty at the county tonight).
    above = await client.get(f"/api/v1/duty/{COUNTY}", headers=township_officer)
    assert above.status_code == 200 and above.json()["next"][0]["officer"]["name"] == "白班值班员"
    masked = (await client.get(f"/api/v1/duty/{COUNTY}", headers=auditor)).json()
    assert "****" in masked["next"][0]["officer"]["phone"]
    scoped = (await client.get("/api/v1/audit/events", params={"type": "duty.changed"}, headers=auditor)).json()
    assert [e["region_code"] for e in scoped["items"]] == [COUNTY]
    assert "****" in scoped["items"][0]["data"]["after"][0]["officer"]["phone"]


# Handover


async def test_a_handover_lists_the_outgoing_officers_open_calls(client: AsyncClient, regions: None) -> None:
    people = await county_office(client)
    now = utc_now()
    shifts = [
        shift(now - timedelta(hours=10), now + timedelta(minutes=30), people["night"], people["leader"]),
        shift(now + timedelta(minutes=30), now + timedelta(hours=12), people["day"]),
    ]
    assert (await client.put(f"/api/v1/duty/{COUNTY}", json={"shifts": shifts})).status_code == 200
    warning_id = await red_at(now - timedelta(minutes=20))
    await call_chase.chase_due(now=now - timedelta(minutes=15))
    night_call = next(c for c in await escalation_calls(client, warning_id) if c["contact"]["name"] == "夜班值班员")
    response = await client.post(f"/api/v1/duty/{COUNTY}/handover", json={"note": "甲村仍未叫应，已派人前往。"})
    assert response.status_code == 201, response.text
    handover = response.json()
    assert handover["from_officer"]["name"] == "夜班值班员" and handover["to_officer"]["name"] == "白班值班员"
    assert [c["call_id"] for c in handover["open_calls"]] == [night_call["id"]]
    assert handover["open_calls"][0]["about_region_codes"] == [VILLAGE]
    assert handover["open_calls"][0]["title"] == "暴雨预警"
    listed = (await client.get(f"/api/v1/duty/{COUNTY}/handovers")).json()["items"]
    assert [h["id"] for h in listed] == [handover["id"]]
    (event,) = (await client.get("/api/v1/audit/events", params={"type": "duty.handover"})).json()["items"]
    assert event["data"]["open_calls"][0]["call_id"] == night_call["id"] and event["data"]["note"].startswith("甲村")
    # The calls stay with their recipient.
    assert (await calls(client, warning_id, kind="escalation"))[0]["status"] in ("pending", "notified")


async def test_a_handover_needs_a_shift_to_hand_over_from(client: AsyncClient, regions: None) -> None:
    response = await client.post(f"/api/v1/duty/{COUNTY}/handover", json={"note": "无"})
    assert response.status_code == 409 and "no shift that has begun" in response.json()["detail"]
