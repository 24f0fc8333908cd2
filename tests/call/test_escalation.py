"""The ladder and escalation, each rule with a moved clock (services take `now`; nothing sleeps)."""

from datetime import datetime, timedelta
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select

from app.call import chase as call_chase
from app.call import escalation
from app.config import get_settings
from app.db import session_scope, utc_now
from app.models.warning import Warning
from app.notify.console import ConsoleProvider
from app.notify.sender import send_due
from tests.factories import (
    COUNTY,
    TOWNSHIP,
    VILLAGE,
    calls,
    create_contact,
    issue,
    outbox,
    send_all,
    token_of,
)

OTHER_VILLAGE = "650107001002"  # 七一平峒社区居委会, also under 艾维尔沟街道


async def at(client: AsyncClient, warning: dict[str, Any], seconds: float) -> datetime:
    """The warning's issue time plus `seconds`: sends what is due then and chases what is late."""
    moment = datetime.fromisoformat(warning["created_at"]) + timedelta(seconds=seconds)
    await send_due(ConsoleProvider(), settings=get_settings(), now=moment)
    await call_chase.chase_due(now=moment)
    await send_due(ConsoleProvider(), settings=get_settings(), now=moment)
    return moment


async def regions_of(client: AsyncClient, warning_id: str) -> dict[str, dict[str, Any]]:
    items = (await client.get(f"/api/v1/warnings/{warning_id}/regions", params={"limit": 1000})).json()["items"]
    return {item["region_code"]: item for item in items}


async def timeline(client: AsyncClient, warning_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/warnings/{warning_id}/timeline", params={"limit": 1000})
    return list(response.json()["items"])


# The ladder


async def test_red_calls_four_times_on_both_channels_then_goes_unanswered(client: AsyncClient, regions: None) -> None:
    await create_contact(client)
    warning = await issue(client, area_codes=[VILLAGE])
    for seconds in (0, 75, 150, 225):
        await at(client, warning, seconds)
    (call,) = await calls(client, warning["id"], kind="alert")
    assert call["attempts"] == 4 and call["status"] == "notified"
    messages = [m for m in await outbox(client, warning["id"]) if m["kind"] == "alert"]
    assert sorted(m["channel"] for m in messages) == ["sms"] * 4 + ["voice"] * 4
    await at(client, warning, 299)
    assert (await calls(client, warning["id"], kind="alert"))[0]["status"] == "notified"
    await at(client, warning, 300)
    (call,) = await calls(client, warning["id"], kind="alert")
    assert call["status"] == "unanswered" and call["attempts"] == 4


async def test_orange_sends_sms_then_voice(client: AsyncClient, regions: None) -> None:
    await create_contact(client)
    warning = await issue(client, level="orange", area_codes=[VILLAGE])
    for seconds in (0, 150, 300, 450):
        await at(client, warning, seconds)
    messages = [m for m in await outbox(client, warning["id"]) if m["kind"] == "alert"]
    assert [m["channel"] for m in messages] == ["sms", "voice", "voice", "voice"]  # the last rung repeats


async def test_attempts_held_back_merge_and_the_deadline_does_not_move(client: AsyncClient, regions: None) -> None:
    await create_contact(client)
    warning = await issue(client, area_codes=[VILLAGE])
    await at(client, warning, 0)
    await at(client, warning, 160)  # attempts 2 and 3 were both due: one attempt goes, as the 3rd
    (call,) = await calls(client, warning["id"], kind="alert")
    assert call["attempts"] == 3
    assert len(await outbox(client, warning["id"])) == 4  # two attempts, two channels each
    deadline = datetime.fromisoformat(warning["created_at"]) + timedelta(seconds=300)
    assert datetime.fromisoformat(call["deadline_at"]) == deadline


async def test_an_answer_stops_the_ladder(client: AsyncClient, regions: None) -> None:
    await create_contact(client)
    warning = await issue(client, area_codes=[VILLAGE])
    await at(client, warning, 0)
    sms = next(m for m in await outbox(client, warning["id"]) if m["channel"] == "sms")
    await client.post(f"/ack/{token_of(sms)}", headers={"Accept": "application/json"})
    await at(client, warning, 80)
    await at(client, warning, 400)
    (call,) = await calls(client, warning["id"])
    assert call["status"] == "acknowledged" and call["attempts"] == 1
    assert len(await outbox(client, warning["id"])) == 2


async def test_a_failed_delivery_brings_the_next_attempt_forward(client: AsyncClient, regions: None) -> None:
    from app.call import service as call_service

    await create_contact(client)
    warning = await issue(client, area_codes=[VILLAGE])
    created = datetime.fromisoformat(warning["created_at"])
    await at(client, warning, 0)
    (call,) = await calls(client, warning["id"])
    async with session_scope() as session:
        moment = created + timedelta(seconds=10)
        assert await call_service.bring_attempt_forward(session, call["id"], reason="delivery failed", now=moment)
    await send_due(ConsoleProvider(), settings=get_settings(), now=created + timedelta(seconds=10))
    assert (await calls(client, warning["id"]))[0]["attempts"] == 2  # the second attempt, early
    await at(client, warning, 100)
    assert (await calls(client, warning["id"]))[0]["attempts"] == 2  # the third keeps its time (150 s)
    await at(client, warning, 150)
    await at(client, warning, 225)
    assert (await calls(client, warning["id"]))[0]["attempts"] == 4
    async with session_scope() as session:  # a failure on the last attempt waits for the deadline
        assert not await call_service.bring_attempt_forward(
            session, call["id"], reason="delivery failed", now=created + timedelta(seconds=230)
        )
    retried = [e for e in await timeline(client, warning["id"]) if e["type"] == "call.retried"]
    assert [e["data"]["attempt"] for e in retried] == [2]


# Escalation


async def test_a_silent_village_goes_to_its_township(client: AsyncClient, regions: None) -> None:
    villager = await create_contact(client, VILLAGE)
    cadre = await create_contact(client, TOWNSHIP, name="李乡长", role="镇长")
    await create_contact(client, TOWNSHIP, name="王副镇长", rank=2)
    warning = await issue(client, area_codes=[VILLAGE])
    await at(client, warning, 0)
    assert await calls(client, warning["id"], kind="escalation") == []
    await at(client, warning, 301)
    (alert,) = await calls(client, warning["id"], kind="alert")
    (call,) = await calls(client, warning["id"], kind="escalation")
    assert call["contact"]["phone"] == cadre["phone"] and call["contact"]["rank"] == 1
    assert call["about_region_codes"] == [VILLAGE] and call["region_codes"] == [TOWNSHIP]
    assert call["escalated_from"] == alert["id"] and alert["contact"]["phone"] == villager["phone"]
    sms = next(m for m in await outbox(client, warning["id"]) if m["kind"] == "escalation" and m["channel"] == "sms")
    assert sms["to"] == cadre["phone"] and "工人新村社区居委会未应答，请上门叫醒" in sms["text"] and sms["ack_url"]
    village = (await regions_of(client, warning["id"]))[VILLAGE]
    assert village["state"] == "unreached" and village["escalated_at"]
    escalated = [e for e in await timeline(client, warning["id"]) if e["type"] == "call.escalated"]
    assert len(escalated) == 1 and escalated[0]["data"]["about_region_codes"] == [VILLAGE]
    summary = (await client.get(f"/api/v1/warnings/{warning['id']}")).json()
    assert summary["escalations"]["total"] == 1


async def test_the_supervisor_named_on_the_roster_comes_first(client: AsyncClient, regions: None) -> None:
    await create_contact(client, VILLAGE)
    await create_contact(client, TOWNSHIP)
    supervisor = await create_contact(client, COUNTY, name="包村干部", supervises=[VILLAGE])
    warning = await issue(client, area_codes=[VILLAGE])
    await at(client, warning, 301)
    (call,) = await calls(client, warning["id"], kind="escalation")
    assert call["contact"]["phone"] == supervisor["phone"] and call["about_region_codes"] == [VILLAGE]


async def test_one_call_per_supervisor_names_all_its_villages(client: AsyncClient, regions: None) -> None:
    await create_contact(client, VILLAGE)
    await create_contact(client, OTHER_VILLAGE)
    cadre = await create_contact(client, TOWNSHIP)
    warning = await issue(client, area_codes=[VILLAGE, OTHER_VILLAGE])
    await at(client, warning, 301)
    (call,) = await calls(client, warning["id"], kind="escalation")
    assert call["contact"]["phone"] == cadre["phone"]
    assert call["about_region_codes"] == sorted([VILLAGE, OTHER_VILLAGE])
    sms = next(m for m in await outbox(client, warning["id"]) if m["kind"] == "escalation" and m["channel"] == "sms")
    assert "工人新村社区居委会、七一平峒社区居委会未应答" in sms["text"]


async def test_regions_unreached_later_join_the_open_call_and_the_supervisor_hears_at_once(
    client: AsyncClient, regions: None
) -> None:
    third = "650107001003"
    await create_contact(client, TOWNSHIP)
    await create_contact(client, third)
    warning = await issue(client, area_codes=[VILLAGE, OTHER_VILLAGE, third])  # two uncovered: escalated at once
    await at(client, warning, 0)
    (call,) = await calls(client, warning["id"], kind="escalation")
    assert call["about_region_codes"] == sorted([VILLAGE, OTHER_VILLAGE]) and call["attempts"] == 1
    async with session_scope() as session:
        row = await session.get_one(Warning, warning["id"])
        later = utc_now() + timedelta(seconds=10)
        await escalation.escalate(session, row, [escalation.Item(third, third, None)], now=later)
        await escalation.escalate(session, row, [escalation.Item(third, third, None)], now=later)  # no twice
    await send_due(ConsoleProvider(), settings=get_settings(), now=later)
    (call,) = await calls(client, warning["id"], kind="escalation")
    assert call["about_region_codes"] == sorted([VILLAGE, OTHER_VILLAGE, third]) and call["attempts"] == 2
    texts = [
        m["text"] for m in await outbox(client, warning["id"]) if m["channel"] == "sms" and m["kind"] == "escalation"
    ]
    assert len(texts) == 2 and "新街社区居委会" in texts[-1]


async def test_a_village_whose_people_left_the_roster_still_goes_up(client: AsyncClient, regions: None) -> None:
    await create_contact(client, VILLAGE)
    leaving = await create_contact(client, OTHER_VILLAGE)
    cadre = await create_contact(client, TOWNSHIP)
    warning = await issue(client, area_codes=[VILLAGE, OTHER_VILLAGE])
    assert (await client.delete(f"/api/v1/contacts/{leaving['id']}")).status_code in (200, 204)
    await at(client, warning, 301)
    (call,) = await calls(client, warning["id"], kind="escalation")
    assert call["contact"]["phone"] == cadre["phone"]
    assert call["about_region_codes"] == sorted([VILLAGE, OTHER_VILLAGE])


async def test_uncovered_regions_escalate_at_once(client: AsyncClient, regions: None) -> None:
    cadre = await create_contact(client, TOWNSHIP)
    warning = await issue(client, area_codes=[VILLAGE])
    assert warning["uncovered_area_codes"] == [VILLAGE]
    assert warning["escalations"]["total"] == 1
    (call,) = await calls(client, warning["id"], kind="escalation")
    assert call["contact"]["phone"] == cadre["phone"] and call["escalated_from"] is None
    assert call["about_region_codes"] == [VILLAGE]


async def test_a_policy_without_escalation_leaves_regions_where_they_are(client: AsyncClient, regions: None) -> None:
    await create_contact(client, VILLAGE)
    await create_contact(client, TOWNSHIP)
    warning = await issue(client, level="blue", area_codes=[VILLAGE])
    await at(client, warning, 7201)
    assert await calls(client, warning["id"], kind="escalation") == []
    assert (await regions_of(client, warning["id"]))[VILLAGE]["state"] == "unreached"


async def test_an_unanswered_escalation_goes_up_to_the_county_and_no_further(
    client: AsyncClient, regions: None
) -> None:
    await create_contact(client, VILLAGE)
    await create_contact(client, TOWNSHIP)
    county = await create_contact(client, COUNTY, name="县长")
    warning = await issue(client, area_codes=[VILLAGE])
    await at(client, warning, 301)
    (alert,) = await calls(client, warning["id"], kind="alert")
    await at(client, warning, 602)
    escalations = sorted(await calls(client, warning["id"], kind="escalation"), key=lambda c: c["id"])
    assert [c["status"] for c in escalations] == ["unanswered", "pending"] or [c["status"] for c in escalations] == [
        "unanswered",
        "notified",
    ]
    upper = escalations[1]
    assert upper["contact"]["phone"] == county["phone"] and upper["about_region_codes"] == [VILLAGE]
    assert upper["escalated_from"] == alert["id"] and upper["region_codes"] == [COUNTY]
    await at(client, warning, 903)  # the county does not answer either: nobody above it
    assert len(await calls(client, warning["id"], kind="escalation")) == 2
    assert (await regions_of(client, warning["id"]))[VILLAGE]["state"] == "unreachable"
    events = [e["type"] for e in await timeline(client, warning["id"])]
    assert events.count("region.unreachable") == 1


async def test_with_nobody_above_the_region_is_unreachable(client: AsyncClient, regions: None) -> None:
    await create_contact(client, VILLAGE)
    warning = await issue(client, area_codes=[VILLAGE])
    await at(client, warning, 301)
    assert await calls(client, warning["id"], kind="escalation") == []
    assert (await regions_of(client, warning["id"]))[VILLAGE]["state"] == "unreachable"
    confirmed = await client.post(
        f"/api/v1/warnings/{warning['id']}/regions/{VILLAGE}/confirm", json={"method": "radio", "note": "电台联系上"}
    )
    assert confirmed.status_code == 200 and confirmed.json()["state"] == "reached"


async def test_a_late_answer_reaches_the_region_and_settles_its_escalation(client: AsyncClient, regions: None) -> None:
    await create_contact(client, VILLAGE)
    await create_contact(client, TOWNSHIP)
    await create_contact(client, COUNTY)
    warning = await issue(client, area_codes=[VILLAGE])
    await at(client, warning, 0)
    await at(client, warning, 301)
    sms = next(m for m in await outbox(client, warning["id"]) if m["kind"] == "alert" and m["channel"] == "sms")
    answer = await client.post(f"/ack/{token_of(sms)}", headers={"Accept": "application/json"})
    assert answer.json()["status"] == "acknowledged"
    assert (await regions_of(client, warning["id"]))[VILLAGE]["state"] == "reached"
    await at(client, warning, 310)
    (call,) = await calls(client, warning["id"], kind="escalation")
    assert call["status"] == "cancelled"
    await at(client, warning, 700)  # nothing goes to the county
    assert len(await calls(client, warning["id"], kind="escalation")) == 1


async def test_a_supervisor_who_answers_takes_it_on(client: AsyncClient, regions: None) -> None:
    await create_contact(client, VILLAGE)
    await create_contact(client, TOWNSHIP)
    await create_contact(client, COUNTY)
    warning = await issue(client, area_codes=[VILLAGE])
    await at(client, warning, 301)
    sms = next(m for m in await outbox(client, warning["id"]) if m["kind"] == "escalation" and m["channel"] == "sms")
    await client.post(f"/ack/{token_of(sms)}", headers={"Accept": "application/json"})
    await at(client, warning, 700)
    (call,) = await calls(client, warning["id"], kind="escalation")
    assert call["status"] == "acknowledged"
    # Taken on, not reached: the region waits for the supervisor's 已叫醒 (or a confirmation).
    assert (await regions_of(client, warning["id"]))[VILLAGE]["state"] == "unreached"


async def test_the_supervisor_page_has_a_woken_button_per_region(client: AsyncClient, regions: None) -> None:
    await create_contact(client, VILLAGE)
    await create_contact(client, OTHER_VILLAGE)
    await create_contact(client, TOWNSHIP)
    warning = await issue(client, area_codes=[VILLAGE, OTHER_VILLAGE])
    await at(client, warning, 301)
    sms = next(m for m in await outbox(client, warning["id"]) if m["kind"] == "escalation" and m["channel"] == "sms")
    token = token_of(sms)
    page = (await client.get(f"/ack/{token}")).text
    assert page.count("已叫醒") == 2 and "工人新村社区居委会" in page and "七一平峒社区居委会" in page
    woken = await client.post(f"/ack/{token}/regions/{VILLAGE}")
    assert woken.status_code == 303
    page = (await client.get(woken.headers["location"])).text
    assert page.count("已叫醒</button>") == 1 and 'class="ok">已叫醒<' in page and "已记录叫醒" in page
    states = await regions_of(client, warning["id"])
    assert states[VILLAGE]["state"] == "reached" and states[VILLAGE]["reached_by"] == "confirmed"
    assert states[OTHER_VILLAGE]["state"] == "unreached"
    (call,) = await calls(client, warning["id"], kind="escalation")
    assert call["status"] == "acknowledged" and call["ack_method"] == "link"
    as_json = await client.post(f"/ack/{token}/regions/{OTHER_VILLAGE}", headers={"Accept": "application/json"})
    assert as_json.status_code == 200 and as_json.json()["state"] == "reached"
    not_named = await client.post(f"/ack/{token}/regions/650107001003", headers={"Accept": "application/json"})
    assert not_named.status_code == 404
    reached = [e for e in await timeline(client, warning["id"]) if e["type"] == "region.reached"]
    assert {e["region_code"] for e in reached} == {VILLAGE, OTHER_VILLAGE}


async def test_cancelling_stops_every_attempt_and_escalation(client: AsyncClient, regions: None) -> None:
    await create_contact(client, VILLAGE)
    await create_contact(client, TOWNSHIP)
    await create_contact(client, COUNTY)
    warning = await issue(client, area_codes=[VILLAGE])
    await at(client, warning, 301)
    assert (await client.post(f"/api/v1/warnings/{warning['id']}/cancel", json={"reason": "雨停"})).status_code == 200
    before = len(await outbox(client, warning["id"]))
    await at(client, warning, 700)
    statuses = {c["kind"]: c["status"] for c in await calls(client, warning["id"])}
    assert statuses == {"alert": "unanswered", "escalation": "cancelled"}
    sent = await outbox(client, warning["id"])
    assert all(m["kind"] in ("lifting", "withdrawal") for m in sent[before:])


async def test_the_chase_is_index_driven_and_idle_when_nothing_is_due(client: AsyncClient, regions: None) -> None:
    await create_contact(client, VILLAGE)
    warning = await issue(client, area_codes=[VILLAGE])
    assert await call_chase.chase_due(now=utc_now()) == 0
    await send_all()
    async with session_scope() as session:
        due = await call_chase.due_warning_ids(
            session, now=datetime.fromisoformat(warning["created_at"]) + timedelta(seconds=300)
        )
    assert due == [warning["id"]]
    async with session_scope() as session:
        closed = await session.scalar(select(Warning.status).where(Warning.id == warning["id"]))
    assert closed == "active"
