"""A village contact's standing report link (/r/{token}): sent by SMS on request (rotating it),
shown on the ack page, the form that makes a report of the contact's village, and dead once the
contact is rotated or deactivated."""

import asyncio
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select, update

from app.config import get_settings
from app.db import session_scope, utc_now
from app.hazard import standing
from app.models.audit import AuditEvent
from app.models.contact import Contact
from app.models.notify import Message
from app.models.region import Region
from app.notify import claim as claiming
from app.notify import webhook
from tests.factories import (
    OTHER_TOWNSHIP,
    TOWNSHIP,
    VILLAGE,
    bearer,
    claim_args,
    create_contact,
    create_key,
    issue,
    send_all,
)

PUBLIC = "http://127.0.0.1:8000"


async def sent_links(client: AsyncClient, phone: str) -> list[dict[str, Any]]:
    items = (await client.get("/api/v1/dev/outbox", params={"limit": 1000})).json()["items"]
    return [m for m in items if m["to"] == phone and m["kind"] == "report_link"]


async def new_link(client: AsyncClient, contact: dict[str, Any]) -> str:
    """Ask for a new link and send it; the path of the link as the SMS carries it."""
    response = await client.post(f"/api/v1/contacts/{contact['id']}/report-link")
    assert response.status_code == 200, response.text
    assert response.json()["to"] == contact["phone"] and response.json()["status"] == "pending"
    await send_all()
    latest = (await sent_links(client, contact["phone"]))[0]
    assert latest["message_id"] == response.json()["message_id"]
    return str(latest["ack_url"]).removeprefix(PUBLIC)


async def hazards(client: AsyncClient) -> list[dict[str, Any]]:
    return (await client.get("/api/v1/hazards", params={"limit": 100})).json()["items"]


async def test_the_link_is_sent_by_sms_and_its_form_makes_a_report_of_the_village(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    reporter = await create_contact(client, VILLAGE, name="村信息员")
    await create_contact(client, TOWNSHIP, name="街道书记")
    path = await new_link(client, reporter)
    (sms,) = await sent_links(client, reporter["phone"])
    assert path.startswith("/r/") and sms["call_id"] is None and sms["warning_id"] is None
    assert "险情上报链接" in sms["text"] and sms["ack_url"] in sms["text"] and "{ack_url}" not in sms["text"]
    async with session_scope() as session:  # the link is derived when sent, never stored
        stored = await session.scalar(select(Message.text).where(Message.id == sms["message_id"]))
        to_reporter = AuditEvent.data["contact_id"].as_string() == reporter["id"]
        sent = await session.scalar(select(AuditEvent).where(AuditEvent.type == "message.sent", to_reporter))
    assert stored is not None and path not in stored and "{ack_url}" in stored
    assert sent is not None and sent.chain == "registry" and sent.data["kind"] == "report_link"

    page = await anonymous.get(path)
    assert page.status_code == 200 and "险情上报" in page.text and "村信息员" in page.text
    assert "<script" not in page.text and page.headers["cache-control"] == "no-store"
    form = {"region_code": VILLAGE, "category": "道路塌方", "description": "村口道路塌方约10米，车辆无法通行",
            "people_at_risk": "8", "urgent": "1"}  # fmt: skip
    posted = await anonymous.post(path, data=form)
    assert posted.status_code == 303 and posted.headers["location"] == f"{path}?sent=1"
    again = await anonymous.post(path, data=form)  # a second tap: the same report
    assert again.status_code == 303
    (report,) = await hazards(client)
    assert report["region_code"] == VILLAGE and report["source"] == "link" and report["urgent"] is True
    assert report["category"] == "道路塌方" and report["people_at_risk"] == 8
    assert report["reporter_name"] == "村信息员" and report["reporter_phone"] == reporter["phone"]
    assert report["office_code"] == TOWNSHIP and report["status"] == "reported"
    done = await anonymous.get(f"{path}?sent=1")
    assert "险情已上报" in done.text and "待接报" in done.text


async def test_a_mistake_on_the_form_is_shown_on_it_and_reports_nothing(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    reporter = await create_contact(client, VILLAGE, name="村信息员")
    path = await new_link(client, reporter)
    empty = await anonymous.post(path, data={"category": "山体滑坡", "description": "  "})
    assert empty.status_code == 422 and "请填写情况描述" in empty.text
    other = await anonymous.post(path, data={"category": "其他", "category_other": "", "description": "井水变浑"})
    assert other.status_code == 422 and "请填写险情类别" in other.text and "井水变浑" in other.text
    count = await anonymous.post(path, data={"category": "火情", "description": "后山冒烟", "people_at_risk": "很多"})
    assert count.status_code == 422 and "受威胁人数请填写整数" in count.text
    well = {
        "region_code": OTHER_TOWNSHIP,
        "category": "其他",
        "category_other": "井水变浑",
        "description": "井水突然变浑",
    }
    elsewhere = await anonymous.post(path, data=well)
    assert elsewhere.status_code == 303  # a region the contact does not answer for: their own
    (report,) = await hazards(client)
    assert report["region_code"] == VILLAGE and report["category"] == "井水变浑"
    guessed = await anonymous.get("/r/" + "A" * 28)
    assert guessed.status_code == 404 and "链接无效" in guessed.text


async def test_refused_reports_on_the_form_count_against_its_limit(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    """A report the form refuses (here: the village abolished after the link was sent) counts among
    the five a minute the form takes, so a client posting refused reports without end is turned
    away too."""
    reporter = await create_contact(client, VILLAGE, name="村信息员")
    path = await new_link(client, reporter)
    async with session_scope() as session:
        await session.execute(update(Region).where(Region.code == VILLAGE).values(abolished=True))
    answers = []
    for n in range(6):
        form = {"region_code": VILLAGE, "category": "火情", "description": f"后山冒烟，第{n + 1}次"}
        answers.append((await anonymous.post(path, data=form)).status_code)
    assert answers == [422] * 5 + [429]


async def test_a_new_link_kills_the_old_and_deactivation_kills_both(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    reporter = await create_contact(client, VILLAGE, name="村信息员")
    first = await new_link(client, reporter)
    second = await new_link(client, reporter)
    assert first != second
    assert (await anonymous.get(first)).status_code == 404
    assert (await anonymous.post(first, data={"category": "火情", "description": "冒烟"})).status_code == 404
    assert (await anonymous.get(second)).status_code == 200
    # A link asked for and the contact deactivated before it went: the SMS is not sent.
    assert (await client.post(f"/api/v1/contacts/{reporter['id']}/report-link")).status_code == 200
    assert (await client.delete(f"/api/v1/contacts/{reporter['id']}")).status_code in (200, 204)
    await send_all()
    assert len(await sent_links(client, reporter["phone"])) == 2
    assert (await anonymous.get(second)).status_code == 404
    async with session_scope() as session:
        cancelled = await session.scalar(select(Message.error).where(Message.contact_id == reporter["id"],
                                                                      Message.status == "cancelled"))  # fmt: skip
    assert cancelled == "the contact was deactivated or has another phone"
    refused = await client.post(f"/api/v1/contacts/{reporter['id']}/report-link")
    assert refused.status_code == 409 and refused.headers["content-type"] == "application/problem+json"
    assert await hazards(client) == []


async def test_only_an_officer_of_the_contacts_area_sends_a_link(client: AsyncClient, regions: None) -> None:
    reporter = await create_contact(client, VILLAGE)
    elsewhere = bearer(await create_key(client, "duty_officer", OTHER_TOWNSHIP))
    assert (await client.post(f"/api/v1/contacts/{reporter['id']}/report-link", headers=elsewhere)).status_code == 403
    auditor = bearer(await create_key(client, "auditor"))
    assert (await client.post(f"/api/v1/contacts/{reporter['id']}/report-link", headers=auditor)).status_code == 403
    assert (await client.post("/api/v1/contacts/01XXXXXXXXXXXXXXXXXXXXXXXX/report-link")).status_code == 404
    assert await sent_links(client, reporter["phone"]) == []


async def test_the_ack_page_leads_to_the_persons_report_form(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    reporter = await create_contact(client, VILLAGE, name="村信息员")
    warning = await issue(client)
    await send_all()
    items = (await client.get("/api/v1/dev/outbox", params={"limit": 1000, "warning_id": warning["id"]})).json()
    sms = next(m for m in items["items"] if m["to"] == reporter["phone"] and m["channel"] == "sms")
    ack = sms["ack_url"].removeprefix(PUBLIC)
    page = await anonymous.get(ack)
    assert page.status_code == 200 and f'action="{ack}/report"' in page.text and "点此上报" in page.text
    first = await anonymous.post(f"{ack}/report")
    assert first.status_code == 303 and first.headers["location"].startswith("/r/")
    second = await anonymous.post(f"{ack}/report")
    assert second.headers["location"] == first.headers["location"]  # made once, the same on every visit
    form = await anonymous.get(first.headers["location"])
    assert form.status_code == 200 and "村信息员" in form.text
    events = (await client.get("/api/v1/audit/events", params={"type": "contact.report_link_made"})).json()
    assert [e["data"]["contact_id"] for e in events["items"]] == [reporter["id"]]
    guessed = await anonymous.post("/ack/" + "A" * 28 + "/report")
    assert guessed.status_code == 404


async def test_many_ack_pages_opened_at_once_all_open(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    """The ack page once opened a second unit of work (to make the report link) while holding its
    own: a red night's crowd of page views ran the connection pool dry (503 after 10 s), and on
    SQLite an error page after a POST waited on its own write lock."""
    for _ in range(5):
        await create_contact(client, VILLAGE)
    warning = await issue(client)
    await send_all()
    items = (await client.get("/api/v1/dev/outbox", params={"limit": 1000, "warning_id": warning["id"]})).json()
    links = [m["ack_url"].removeprefix(PUBLIC) for m in items["items"] if m["channel"] == "sms"]
    pages = await asyncio.gather(*(anonymous.get(link) for link in links * 8))
    assert [p.status_code for p in pages] == [200] * len(pages)
    wrong = await anonymous.post(f"{links[0]}/feedback", data={"stage": "initial", "evacuated": "-1"})
    assert wrong.status_code == 422 and "text/html" in wrong.headers["content-type"]


async def test_a_long_text_comes_back_in_the_form_and_a_changed_report_is_a_new_one(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    reporter = await create_contact(client, VILLAGE, name="村信息员")
    path = await new_link(client, reporter)
    long = "\r\n".join(["河水上涨"] * 400) + "。"  # 2,000 characters on screen, 2,399 as the browser sends them
    too_long = await anonymous.post(path, data={"category": "洪水内涝", "description": long + "涨"})
    assert too_long.status_code == 422 and "情况描述最多2000字" in too_long.text and "河水上涨" in too_long.text
    fits = await anonymous.post(path, data={"category": "洪水内涝", "description": long})
    assert fits.status_code == 303
    same = {"category": "洪水内涝", "description": "河水漫过桥面"}
    await anonymous.post(path, data=same)
    await anonymous.post(path, data=same | {"urgent": "1", "people_at_risk": "30"})  # 紧急 ticked: a new report
    made = await hazards(client)
    resent = sorted((h["urgent"], h["people_at_risk"], h["level"]) for h in made if h["description"] == "河水漫过桥面")
    assert resent == [(False, None, "orange"), (True, 30, "red")]
    (first,) = [h for h in made if h["description"] != "河水漫过桥面"]
    assert len(first["description"]) == 2000 and "\r" not in first["description"]


async def test_a_new_phone_kills_the_link_and_the_sms_on_its_way_to_the_old_number(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    reporter = await create_contact(client, VILLAGE, name="村信息员")
    path = await new_link(client, reporter)
    assert (await client.post(f"/api/v1/contacts/{reporter['id']}/report-link")).status_code == 200
    moved = await client.patch(f"/api/v1/contacts/{reporter['id']}", json={"phone": "+8613988887777"})
    assert moved.status_code == 200
    await send_all()
    assert len(await sent_links(client, reporter["phone"])) == 1  # only the first, sent before
    assert (await anonymous.get(path)).status_code == 404
    posted = await anonymous.post(path, data={"category": "火情", "description": "后山冒烟"})
    assert posted.status_code == 404 and "后山冒烟" in posted.text  # what was typed, to send another way


async def test_the_link_sms_is_on_the_record_of_the_contacts_area(client: AsyncClient, regions: None) -> None:
    reporter = await create_contact(client, VILLAGE)
    await new_link(client, reporter)
    scoped = bearer(await create_key(client, "auditor", TOWNSHIP))
    events = (await client.get("/api/v1/audit/events", params={"limit": 100}, headers=scoped)).json()["items"]
    assert {"contact.report_link_sent", "message.sent"} <= {e["type"] for e in events}
    async with session_scope() as session:
        contact = await session.get_one(Contact, reporter["id"])
        await standing.send_new_link(session, contact, settings=get_settings(), actor="测试", now=utc_now())
    (outgoing,) = await claiming.claim(utc_now(), 10, **claim_args())
    assert outgoing.level == "blue" and outgoing.call_id is None and outgoing.region_code == VILLAGE
    assert webhook.document(outgoing)["level"] == "blue"
