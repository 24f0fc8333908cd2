"""The chain upward through the API: a village's report is taken by the township (接报, by SMS
reply), the whistle calls two departments (吹哨), one reports in by a key on the voice call (报到),
the silent one is brought to the county's officer on duty, the report is resolved, and the
reporter, unsatisfied, reopens it (末端评价). Times are passed in where the chain moves."""

from datetime import datetime, timedelta
from itertools import count
from typing import Any

from httpx import AsyncClient

from app.ack import replies
from app.config import get_settings
from app.db import session_scope, utc_now
from app.hazard import chase
from app.notify.console import ConsoleProvider
from app.notify.sender import send_due
from tests.factories import COUNTY, TOWNSHIP, VILLAGE, bearer, create_contact, create_key

_inbound = count(1)


async def reply(phone: str, *, text: str | None = None, digits: str | None = None, now: datetime) -> dict:
    """An SMS reply or a key on a voice call, as a gateway hands it over."""
    channel = "voice" if digits else "sms"
    async with session_scope() as session:
        return await replies.take_inbound(session, inbound_id=f"hz-{next(_inbound)}", phone=phone, channel=channel,
                                          text=text, digits=digits, now=now)  # fmt: skip


async def outbox_of(client: AsyncClient, phone: str) -> list[dict[str, Any]]:
    items = (await client.get("/api/v1/dev/outbox", params={"limit": 1000})).json()["items"]
    return [m for m in items if m["to"] == phone]


async def people(client: AsyncClient) -> dict[str, dict[str, Any]]:
    water = (await client.post("/api/v1/departments", json={"name": "水利局", "region_code": COUNTY})).json()
    land = (await client.post("/api/v1/departments", json={"name": "自然资源局", "region_code": COUNTY})).json()
    found = {
        "reporter": await create_contact(client, VILLAGE, name="村信息员"),
        "township": await create_contact(client, TOWNSHIP, name="街道书记"),
        "county_head": await create_contact(client, COUNTY, name="县应急局局长", rank=1),
        "officer": await create_contact(client, COUNTY, name="县值班员", rank=3),
        "water": await create_contact(client, COUNTY, name="水利值班", rank=5, department_id=water["id"]),
        "land": await create_contact(client, COUNTY, name="自然资源值班", rank=5, department_id=land["id"]),
    }
    now = utc_now()
    shift = {"starts_at": (now - timedelta(hours=1)).isoformat(), "ends_at": (now + timedelta(hours=10)).isoformat(),
             "officer_id": found["officer"]["id"]}  # fmt: skip
    assert (await client.put(f"/api/v1/duty/{COUNTY}", json={"shifts": [shift]})).status_code == 200
    return found | {"water_dept": water, "land_dept": land}


async def test_a_village_report_runs_the_whole_chain_upward(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    who = await people(client)
    body = {"region_code": VILLAGE, "category": "山体裂缝", "description": "后山出现长约20米裂缝，有落石",
            "people_at_risk": 12, "source": "phone", "reporter_name": "村信息员",
            "reporter_phone": who["reporter"]["phone"]}  # fmt: skip
    created = await client.post("/api/v1/hazards", json=body)
    assert created.status_code == 201, created.text
    hazard = created.json()
    assert hazard["status"] == "reported" and hazard["office_code"] == TOWNSHIP and hazard["level"] == "orange"
    now = utc_now()
    await send_due(ConsoleProvider(), settings=get_settings(), now=now)
    (sms,) = [m for m in await outbox_of(client, who["township"]["phone"]) if m["channel"] == "sms"]
    assert sms["hazard_id"] == hazard["id"] and sms["warning_id"] is None and "山体裂缝" in sms["text"]
    assert "请接报" in sms["text"] and sms["ack_url"]
    page = await anonymous.get(sms["ack_url"].replace("http://127.0.0.1:8000", ""), follow_redirects=True)
    assert page.status_code == 200 and "请接报以下险情" in page.text and "后山出现长约20米裂缝" in page.text

    # 接报: the township's SMS reply.
    taken = await reply(who["township"]["phone"], text="收到", now=now)
    assert taken["result"] == "acknowledged"
    assert (await client.get(f"/api/v1/hazards/{hazard['id']}")).json()["status"] == "received"

    # 吹哨: two departments, ten minutes to report in.
    ids = [who["water_dept"]["id"], who["land_dept"]["id"]]
    whistle = {"department_ids": ids, "instruction": "立即派人核查", "deadline_s": 600}
    whistled = await client.post(f"/api/v1/hazards/{hazard['id']}/whistle", json=whistle)
    assert whistled.status_code == 200 and whistled.json()["status"] == "dispatched"
    await send_due(ConsoleProvider(), settings=get_settings(), now=now)
    water_messages = await outbox_of(client, who["water"]["phone"])
    assert any("请报到" in m["text"] and "立即派人核查" in m["text"] for m in water_messages)
    # 报到: 水利局 by a key on the voice call; 自然资源局 stays silent.
    assert (await reply(who["water"]["phone"], digits="1", now=now))["result"] == "acknowledged"
    await chase.chase_due(now=now + timedelta(seconds=601))
    detail = (await client.get(f"/api/v1/hazards/{hazard['id']}")).json()
    dispatches = {d["department_name"]: d for d in detail["dispatches"]}
    assert dispatches["水利局"]["reported_in_at"] is not None and dispatches["水利局"]["escalated_at"] is None
    assert dispatches["自然资源局"]["reported_in_at"] is None and dispatches["自然资源局"]["escalated_at"] is not None
    escalated = [c for c in detail["calls"] if c["contact"]["name"] == "县值班员"]
    assert len(escalated) == 1 and escalated[0]["status"] == "pending"  # the officer on shift, not the head
    assert not [c for c in detail["calls"] if c["contact"]["name"] == "县应急局局长"]
    await send_due(ConsoleProvider(), settings=get_settings(), now=now + timedelta(seconds=602))
    told = [m for m in await outbox_of(client, who["officer"]["phone"]) if m["channel"] == "sms"]
    assert any("自然资源局未按时报到。请督办" in m["text"] for m in told), [m["text"] for m in told]

    # Resolved with a note; the reporter is asked to judge, is not satisfied, and the report reopens.
    no_note = await client.post(f"/api/v1/hazards/{hazard['id']}/progress", json={"status": "resolved"})
    assert no_note.status_code == 422
    resolved = await client.post(f"/api/v1/hazards/{hazard['id']}/progress",
                                 json={"status": "resolved", "note": "已清理落石，设置警戒"})  # fmt: skip
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    await send_due(ConsoleProvider(), settings=get_settings(), now=utc_now())
    asked = [m for m in await outbox_of(client, who["reporter"]["phone"]) if "请评价" in m["text"]]
    assert len(asked) == 1 and asked[0]["channel"] == "sms"
    again = await client.post(f"/api/v1/hazards/{hazard['id']}/whistle",
                              json={"department_ids": ids, "deadline_s": 60})  # fmt: skip
    assert again.status_code == 409  # not from resolved
    # The reporter's link: the report's page with the 末端评价 form (no script), answered unsatisfied.
    link = asked[0]["ack_url"].replace("http://127.0.0.1:8000", "")
    page = await anonymous.get(link, follow_redirects=True)
    assert page.status_code == 200 and "请评价处置结果" in page.text and "已清理落石" in page.text
    judged = await anonymous.post(f"{link}/evaluation", data={"rating": "unsatisfied", "note": "裂缝仍在扩大"})
    assert judged.status_code == 303
    assert (await client.get(f"/api/v1/hazards/{hazard['id']}")).json()["status"] == "reopened"
    again_judged = await anonymous.post(f"{link}/evaluation", data={"rating": "satisfied"})
    assert again_judged.status_code == 409  # judged once
    calls = (await client.get(f"/api/v1/hazards/{hazard['id']}")).json()["calls"]
    reopened = [c for c in calls if c["contact"]["name"] == "街道书记" and c["status"] == "pending"]
    assert len(reopened) == 1  # the township is called to take it again

    events = (await client.get(f"/api/v1/hazards/{hazard['id']}/timeline", params={"limit": 1000})).json()["items"]
    steps = [e["type"] for e in events if e["type"].startswith("hazard.")]
    assert steps == ["hazard.reported", "hazard.received", "hazard.dispatched", "hazard.reported_in",
                     "hazard.escalated", "hazard.resolved", "hazard.evaluated", "hazard.reopened"]  # fmt: skip
    assert all(e["chain"] == f"hazard:{hazard['id']}" for e in events)
    assert (await client.get("/api/v1/audit/verify")).json()["ok"] is True


async def test_an_urgent_report_on_a_township_goes_to_the_county_desk_and_its_leader(
    client: AsyncClient, regions: None
) -> None:
    await people(client)
    leader = await create_contact(client, COUNTY, name="带班领导", rank=2)
    current = (await client.get(f"/api/v1/duty/{COUNTY}")).json()["current"]
    shift = {key: current[key] for key in ("starts_at", "ends_at", "officer_id")} | {"leader_id": leader["id"]}
    assert (await client.put(f"/api/v1/duty/{COUNTY}", json={"shifts": [shift]})).status_code == 200
    body = {"region_code": TOWNSHIP, "category": "道路塌方", "description": "S101线塌方", "urgent": True,
            "source": "radio"}  # fmt: skip
    hazard = (await client.post("/api/v1/hazards", json=body)).json()
    assert hazard["office_code"] == COUNTY and hazard["level"] == "red"
    calls = (await client.get(f"/api/v1/hazards/{hazard['id']}")).json()["calls"]
    assert sorted(c["contact"]["name"] for c in calls) == ["县值班员", "带班领导"]
    assert all(c["kind"] == "hazard" and c["warning_id"] is None and c["hazard_id"] == hazard["id"] for c in calls)
    deadline = datetime.fromisoformat(calls[0]["deadline_at"]) - datetime.fromisoformat(hazard["created_at"])
    assert deadline == timedelta(minutes=15)


async def test_who_may_report_and_read(client: AsyncClient, regions: None) -> None:
    await people(client)
    body = {"region_code": VILLAGE, "category": "河水上涨", "description": "河水漫过便桥", "source": "phone"}
    auditor = bearer(await create_key(client, "auditor", COUNTY))
    assert (await client.post("/api/v1/hazards", json=body, headers=auditor)).status_code == 403
    other = bearer(await create_key(client, "duty_officer", "650107004000"))
    assert (await client.post("/api/v1/hazards", json=body, headers=other)).status_code == 403
    bad = await client.post("/api/v1/hazards", json=body | {"source": "pigeon"})
    assert bad.status_code == 422
    hazard = (await client.post("/api/v1/hazards", json=body)).json()
    assert (await client.get(f"/api/v1/hazards/{hazard['id']}", headers=other)).status_code == 403
    listed = (await client.get("/api/v1/hazards", headers=auditor, params={"status": "reported"})).json()
    assert [h["id"] for h in listed["items"]] == [hazard["id"]]
    assert (await client.get("/api/v1/hazards", params={"status": "lost"})).status_code == 422


async def test_a_satisfied_reporter_closes_the_report(client: AsyncClient, regions: None) -> None:
    await people(client)
    body = {"region_code": VILLAGE, "category": "积水", "description": "村口积水", "source": "in_person"}
    hazard = (await client.post("/api/v1/hazards", json=body)).json()
    early = await client.post(f"/api/v1/hazards/{hazard['id']}/evaluation", json={"rating": "satisfied"})
    assert early.status_code == 409  # not resolved yet
    handling = await client.post(f"/api/v1/hazards/{hazard['id']}/progress", json={"status": "handling"})
    assert handling.json()["status"] == "handling"
    resolved = await client.post(
        f"/api/v1/hazards/{hazard['id']}/progress", json={"status": "resolved", "note": "已排水"}
    )
    assert resolved.json()["status"] == "resolved"
    detail = (await client.get(f"/api/v1/hazards/{hazard['id']}")).json()
    assert all(c["status"] == "cancelled" for c in detail["calls"])  # the office's call ends with the report
    judged = await client.post(f"/api/v1/hazards/{hazard['id']}/evaluation", json={"rating": "satisfied"})
    assert judged.json()["status"] == "evaluated" and judged.json()["rating"] == "satisfied"
