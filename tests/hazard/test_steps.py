"""The steps of a report one by one: taken by link, passed up when nobody takes it, taken again
after reopening, 督办 apart from 报到, the reporter's old link, who sees which calls, and answers
racing on PostgreSQL."""

import asyncio
from datetime import timedelta

from httpx import AsyncClient

from app.call import service as call_service
from app.config import get_settings
from app.db import session_scope, utc_now
from app.hazard import chase
from app.models.call import Call
from app.notify.console import ConsoleProvider
from app.notify.sender import send_due
from tests.conftest import requires_postgres
from tests.factories import COUNTY, TOWNSHIP, VILLAGE, bearer, create_contact, create_key
from tests.hazard.test_chain import outbox_of, people, reply

REPORT = {"region_code": VILLAGE, "category": "山体裂缝", "description": "后山裂缝", "source": "phone"}


async def report(client: AsyncClient, **fields: object) -> dict:
    created = await client.post("/api/v1/hazards", json=REPORT | fields)
    assert created.status_code == 201, created.text
    return dict(created.json())


async def detail(client: AsyncClient, hazard_id: str) -> dict:
    return dict((await client.get(f"/api/v1/hazards/{hazard_id}")).json())


async def steps(client: AsyncClient, hazard_id: str) -> list[str]:
    events = (await client.get(f"/api/v1/hazards/{hazard_id}/timeline", params={"limit": 1000})).json()["items"]
    return [e["type"] for e in events if e["type"].startswith("hazard.")]


async def test_the_office_takes_a_report_by_its_link(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    who = await people(client)
    hazard = await report(client)
    await send_due(ConsoleProvider(), settings=get_settings(), now=utc_now())
    (sms,) = [m for m in await outbox_of(client, who["township"]["phone"]) if m["channel"] == "sms"]
    link = sms["ack_url"].replace("http://127.0.0.1:8000", "")
    pressed = await anonymous.post(link, headers={"Accept": "application/json"})
    assert pressed.status_code == 200 and pressed.json()["status"] == "acknowledged"
    assert (await detail(client, hazard["id"]))["status"] == "received"
    assert (await anonymous.get(f"{link}x/hazard")).status_code == 404  # a broken link: a page saying so


async def test_a_report_nobody_takes_goes_up_to_the_county(client: AsyncClient, regions: None) -> None:
    who = await people(client)
    hazard = await report(client)
    await chase.chase_due(now=utc_now() + timedelta(minutes=61))
    found = await detail(client, hazard["id"])
    assert found["office_code"] == COUNTY and found["status"] == "reported"
    county = [c for c in found["calls"] if c["contact"]["name"] == "县值班员"]
    assert len(county) == 1 and county[0]["escalated_from"] is not None
    await reply(who["officer"]["phone"], text="收到", now=utc_now() + timedelta(minutes=62))
    assert (await detail(client, hazard["id"]))["status"] == "received"
    assert await steps(client, hazard["id"]) == ["hazard.reported", "hazard.escalated", "hazard.received"]


async def test_a_report_whose_only_taker_leaves_the_roster_is_called_anew_at_once(
    client: AsyncClient, regions: None
) -> None:
    """Taking the township's one person off the roster once cancelled the call and left the report
    with nobody asked to take it, for good; now the report is called anew, in the same request."""
    who = await people(client)
    hazard = await report(client)
    assert (await client.delete(f"/api/v1/contacts/{who['township']['id']}")).status_code in (200, 204)
    found = await detail(client, hazard["id"])
    assert found["office_code"] == COUNTY and found["status"] == "reported"
    assert {c["contact"]["name"]: c["status"] for c in found["calls"]} == {
        "街道书记": "cancelled",
        "县值班员": "pending",
    }
    assert await steps(client, hazard["id"]) == ["hazard.reported", "hazard.rerouted"]


async def test_a_department_whose_person_leaves_is_called_anew_or_brought_to_the_county(
    client: AsyncClient, regions: None
) -> None:
    who = await people(client)
    second = await create_contact(client, COUNTY, name="水利局二号", rank=6, department_id=who["water_dept"]["id"])
    hazard = await report(client)
    ids = [who["water_dept"]["id"], who["land_dept"]["id"]]
    whistle = {"department_ids": ids, "deadline_s": 600}
    assert (await client.post(f"/api/v1/hazards/{hazard['id']}/whistle", json=whistle)).status_code == 200
    for person in (who["water"], who["land"]):
        assert (await client.delete(f"/api/v1/contacts/{person['id']}")).status_code in (200, 204)
    found = await detail(client, hazard["id"])
    open_calls = {(c["contact"]["name"], c["hazard_step"]) for c in found["calls"] if c["status"] == "pending"}
    # 水利局: its next person; 自然资源局, nobody left: the county's officer on duty, at once.
    assert ("水利局二号", "dispatch") in open_calls and ("县值班员", "escalate") in open_calls
    dispatches = {d["department_name"]: d for d in found["dispatches"]}
    assert dispatches["自然资源局"]["escalated_at"] is not None and dispatches["水利局"]["escalated_at"] is None
    assert second["id"] in {c["contact"]["id"] for c in found["calls"]}


async def test_a_reopened_report_is_taken_again_on_the_record(client: AsyncClient, regions: None) -> None:
    who = await people(client)
    hazard = await report(client, reporter_phone=who["reporter"]["phone"])
    now = utc_now()
    await reply(who["township"]["phone"], text="收到", now=now)
    path = f"/api/v1/hazards/{hazard['id']}"
    await client.post(f"{path}/progress", json={"status": "resolved", "note": "已处置"})
    await client.post(f"{path}/evaluation", json={"rating": "unsatisfied"})
    await reply(who["township"]["phone"], text="收到", now=utc_now())
    assert (await detail(client, hazard["id"]))["status"] == "received"
    assert (await steps(client, hazard["id"])).count("hazard.received") == 2


async def test_the_countys_supervision_is_not_the_departments_report_in(client: AsyncClient, regions: None) -> None:
    who = await people(client)
    hazard = await report(client)
    path = f"/api/v1/hazards/{hazard['id']}"
    whistle = {"department_ids": [who["land_dept"]["id"]], "deadline_s": 60}
    assert (await client.post(f"{path}/whistle", json=whistle)).status_code == 200
    await chase.chase_due(now=utc_now() + timedelta(seconds=61))
    await reply(who["officer"]["phone"], text="收到", now=utc_now() + timedelta(seconds=62))
    found = await detail(client, hazard["id"])
    assert found["dispatches"][0]["reported_in_at"] is None and found["dispatches"][0]["escalated_at"] is not None
    assert "hazard.escalation_taken" in await steps(client, hazard["id"])
    assert "hazard.reported_in" not in await steps(client, hazard["id"])


async def test_a_report_on_a_county_goes_above_it_and_one_with_nobody_above_says_so(
    client: AsyncClient, regions: None
) -> None:
    await create_contact(client, "650100000000", name="市应急局值班")
    hazard = await report(client, region_code=COUNTY)
    assert hazard["office_code"] == "650100000000"
    lonely = await report(client, region_code="650107004001")  # nobody above 乌拉泊's village on record
    assert lonely["office_code"] is None and await steps(client, lonely["id"]) == [
        "hazard.reported", "hazard.unreachable"]  # fmt: skip
    unknown = await client.post("/api/v1/hazards", json=REPORT | {"region_code": "659999999999"})
    assert unknown.status_code == 422


async def test_an_old_evaluation_link_cannot_judge_a_later_resolution(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    who = await people(client)
    hazard = await report(client, reporter_phone=who["reporter"]["phone"])
    path = f"/api/v1/hazards/{hazard['id']}"
    await client.post(f"{path}/progress", json={"status": "resolved", "note": "第一次"})
    await send_due(ConsoleProvider(), settings=get_settings(), now=utc_now())
    (first,) = [m for m in await outbox_of(client, who["reporter"]["phone"]) if "请评价" in m["text"]]
    link = first["ack_url"].replace("http://127.0.0.1:8000", "")
    await client.post(f"{path}/evaluation", json={"rating": "unsatisfied"})
    await client.post(f"{path}/progress", json={"status": "resolved", "note": "第二次"})
    stale = await anonymous.post(f"{link}/evaluation", data={"rating": "satisfied"})
    assert stale.status_code == 409
    assert (await detail(client, hazard["id"]))["status"] == "resolved"


async def test_a_village_key_sees_the_report_but_not_the_offices_phones(client: AsyncClient, regions: None) -> None:
    who = await people(client)
    hazard = await report(client)
    village = bearer(await create_key(client, "duty_officer", VILLAGE))
    found = (await client.get(f"/api/v1/hazards/{hazard['id']}", headers=village)).json()
    assert found["status"] == "reported" and found["calls"] == []
    events = (await client.get(f"/api/v1/hazards/{hazard['id']}/timeline", headers=village)).json()["items"]
    assert who["township"]["phone"] not in str(events)
    township = bearer(await create_key(client, "duty_officer", TOWNSHIP))
    assert len((await client.get(f"/api/v1/hazards/{hazard['id']}", headers=township)).json()["calls"]) == 1


@requires_postgres
async def test_answers_racing_each_other_and_a_step_do_not_deadlock(client: AsyncClient, regions: None) -> None:
    who = await people(client)
    leader = await create_contact(client, COUNTY, name="带班领导", rank=2)
    current = (await client.get(f"/api/v1/duty/{COUNTY}")).json()["current"]
    shift = {key: current[key] for key in ("starts_at", "ends_at", "officer_id")} | {"leader_id": leader["id"]}
    assert (await client.put(f"/api/v1/duty/{COUNTY}", json={"shifts": [shift]})).status_code == 200
    for _ in range(5):
        hazard = await report(client, region_code=TOWNSHIP, urgent=True)  # the officer and the leader, at once
        call_ids = [c["id"] for c in (await detail(client, hazard["id"]))["calls"]]

        async def answer(call_id: str) -> None:
            async with session_scope() as session:
                call = await session.get_one(Call, call_id)
                await call_service.acknowledge(session, call, method="manual", actor="值班员", now=utc_now())

        async def resolve(hazard_id: str) -> None:
            await client.post(f"/api/v1/hazards/{hazard_id}/progress", json={"status": "resolved", "note": "已处置"})

        results = await asyncio.gather(*(answer(i) for i in call_ids), resolve(hazard["id"]), return_exceptions=True)
        failures = [r for r in results if isinstance(r, Exception) and "deadlock" in repr(r).lower()]
        assert failures == []
    assert who


async def test_an_sms_starting_with_xianqing_is_a_report_of_the_senders_village(
    client: AsyncClient, regions: None
) -> None:
    who = await people(client)
    taken = await reply(who["reporter"]["phone"], text="险情：后山裂缝，有落石，紧急", now=utc_now())
    assert taken["result"] == "hazard_report"
    found = await detail(client, taken["hazard_id"])
    assert found["region_code"] == VILLAGE and found["source"] == "sms" and found["urgent"] is True
    assert found["category"] == "后山裂缝" and found["reporter_phone"] == who["reporter"]["phone"]
    assert found["office_code"] == TOWNSHIP and found["calls"][0]["contact"]["name"] == "街道书记"
    again = await reply(who["reporter"]["phone"], text="报告 河水上涨", now=utc_now())
    assert (await detail(client, again["hazard_id"]))["category"] == "河水上涨"
    stranger = await reply("+8613700000001", text="险情：有人落水", now=utc_now())
    assert stranger["result"] == "unknown_phone"
    plain = await reply(who["reporter"]["phone"], text="报告收到了吗", now=utc_now())
    assert plain["result"] == "hazard_report"  # 报告… is a report, as the contract reads


async def test_a_handover_lists_the_reports_still_open_in_the_officers_hands(
    client: AsyncClient, regions: None
) -> None:
    await people(client)
    hazard = await report(client, region_code=TOWNSHIP, category="道路塌方", urgent=True)
    handover = await client.post(f"/api/v1/duty/{COUNTY}/handover", json={"note": "塌方未处置"})
    assert handover.status_code == 201, handover.text
    (open_call,) = handover.json()["open_calls"]
    assert open_call["hazard_id"] == hazard["id"] and open_call["title"].startswith("紧急险情：")
    assert "道路塌方" in open_call["title"] and open_call["kind"] == "hazard"


async def test_a_reports_calls_are_in_the_metrics(client: AsyncClient, regions: None) -> None:
    """On PostgreSQL the open-call gauge read the warnings' tallies only, leaving reports' calls out."""
    from app.call import metrics as call_metrics
    from app.call import tally

    await people(client)
    made = call_metrics.CALLS_CREATED.labels("hazard")._value.get()
    await report(client)
    assert call_metrics.CALLS_CREATED.labels("hazard")._value.get() == made + 1
    async with session_scope() as session:
        assert (await tally.open_calls(session))["pending"] == 1
