"""Issue 28's path, through the API on either engine: a Uyghur-speaking village contact gets the
warning in Uyghur with a link whose page reads right to left beside Chinese; the village
loudspeaker's broadcast carries the Chinese and the Uyghur to the platform's stand-in and its
receipt goes on the record and the board; an SMS reply of a Uyghur word for "received" answers."""

from typing import Any

from httpx import AsyncClient

from app import i18n
from app.config import get_settings
from app.db import utc_now
from app.notify.console import ConsoleProvider
from app.notify.sender import send_due
from tests.broadcast.test_loudspeakers import Platform, platform, receipt, send  # noqa: F401 - the fixture
from tests.factories import COUNTY, TOWNSHIP, VILLAGE, calls, create_contact, create_key, issue, outbox, send_all
from tests.notify.conftest import gateway_secret  # noqa: F401 - the fixture
from tests.notify.receiver import signed_post
from tests.web.pages import sign_in

UG = i18n.catalog("ug")
TITLE_UG = "دابەنچىڭ رايونىدا قاتتىق شامال قىزىل ئاگاھلاندۇرۇشى"
INSTRUCTION_UG = "سىرتتىكى خىزمەتنى توختىتىپ، ئادەملەرنى بىخەتەر جايغا يۆتكەڭ"
RECEIVED_UG = "تاپشۇرۇۋالدىم"


def translated(**fields: Any) -> dict[str, Any]:
    return {"translations": {"ug": {"title": TITLE_UG, "instruction": INSTRUCTION_UG}}} | fields


async def test_a_uyghur_contact_reads_the_warning_in_uyghur_beside_chinese(
    client: AsyncClient,
    anonymous: AsyncClient,
    regions: None,
    platform: Platform,  # noqa: F811
) -> None:
    person = await create_contact(client, VILLAGE, channels=["sms"], language="ug")
    assert person["language"] == "ug"
    chinese = await create_contact(client, VILLAGE, channels=["sms"], rank=2)
    await client.post("/api/v1/loudspeakers", json={"region_code": VILLAGE, "name": "村委会大喇叭",
                                                    "languages": ["zh", "ug"]})  # fmt: skip
    warning = await issue(client, area_codes=[TOWNSHIP], **translated())
    await send_all()
    sent = {m["to"]: m for m in await outbox(client, warning["id"])}
    ug_sms, zh_sms = sent[person["phone"]]["text"], sent[chinese["phone"]]["text"]
    # The frame in Uyghur, the warning's own instruction as it carries it in Uyghur; the Chinese
    # contact's as before.
    assert UG("红色") in ug_sms and INSTRUCTION_UG[:10] in ug_sms and "预警" not in ug_sms
    assert zh_sms.startswith("【叫应】大风红色预警：") and "停止户外作业" in zh_sms
    assert len(ug_sms) <= 134 and ug_sms.endswith(sent[person["phone"]]["ack_url"])
    # The link's page: right to left, the Uyghur first and the Chinese beside it.
    page = (await anonymous.get(sent[person["phone"]]["ack_url"].removeprefix("http://127.0.0.1:8000"))).text
    assert '<html lang="ug" dir="rtl">' in page
    assert TITLE_UG in page and "达坂城区大风红色预警" in page
    assert f'<span lang="ug" dir="rtl">{UG("收到")}</span> <span class="zh" lang="zh-CN" dir="ltr">收到</span>' in page
    zh_page = (await anonymous.get(sent[chinese["phone"]]["ack_url"].removeprefix("http://127.0.0.1:8000"))).text
    assert '<html lang="zh-CN" dir="ltr">' in zh_page and TITLE_UG not in zh_page
    # The loudspeaker: Chinese and Uyghur, each in its own words; the receipt on record and board.
    assert await send(platform) == 1
    (played,) = platform.received
    assert set(played["texts"]) == {"zh", "ug"}
    assert played["texts"]["zh"].startswith("达坂城区大风红色预警。停止户外作业")
    assert played["texts"]["ug"].startswith(TITLE_UG) and INSTRUCTION_UG in played["texts"]["ug"]
    await receipt(anonymous, {"broadcast_id": played["broadcast_id"], "status": "delivered"})
    events = (await client.get(f"/api/v1/warnings/{warning['id']}/timeline", params={"limit": 500})).json()["items"]
    assert [e["type"] for e in events].count("broadcast.delivered") == 1
    await sign_in(anonymous, await create_key(client, "duty_officer", COUNTY))
    assert 'class="speaker played"' in (await anonymous.get(f"/console/warnings/{warning['id']}")).text


async def test_a_uyghur_word_for_received_answers_and_others_do_not(
    client: AsyncClient,
    anonymous: AsyncClient,
    regions: None,
    gateway_secret: None,  # noqa: F811
) -> None:
    person = await create_contact(client, VILLAGE, channels=["sms"], language="ug")
    chinese = await create_contact(client, VILLAGE, channels=["sms"], rank=2)
    warning = await issue(client, area_codes=[VILLAGE])
    await send_all()
    path = "/api/v1/providers/webhook/inbound"
    # Not "received" in Uyghur (not received), and a Chinese contact's Uyghur word: replies only.
    no = {"inbound_id": "ug-no", "from": person["phone"], "channel": "sms", "text": "تاپشۇرۇۋالمىدىم"}
    assert (await signed_post(anonymous, path, no)).json()["result"] == "reply"
    other = {"inbound_id": "zh-ug", "from": chinese["phone"], "channel": "sms", "text": RECEIVED_UG}
    assert (await signed_post(anonymous, path, other)).json()["result"] == "reply"
    yes = {"inbound_id": "ug-yes", "from": person["phone"], "channel": "sms", "text": f" {RECEIVED_UG}! "}
    answered = await signed_post(anonymous, path, yes)
    assert answered.status_code == 200 and answered.json()["result"] == "acknowledged", answered.text
    by_person = {c["contact"]["id"]: c for c in await calls(client, warning["id"])}
    assert by_person[person["id"]]["status"] == "acknowledged" and by_person[person["id"]]["ack_method"] == "sms_reply"
    assert by_person[chinese["id"]]["status"] != "acknowledged"
    # 收到 always answers, whatever the person's language.
    zh = {"inbound_id": "zh-yes", "from": chinese["phone"], "channel": "sms", "text": "收到"}
    assert (await signed_post(anonymous, path, zh)).json()["result"] == "acknowledged"


async def test_a_uyghur_contact_hears_chinese_and_reads_uyghur_on_each_voice_attempt(
    client: AsyncClient, regions: None
) -> None:
    person = await create_contact(client, VILLAGE, channels=["sms", "voice"], language="ug")
    policy = (await client.get("/api/v1/policies/red")).json()
    policy = {key: value for key, value in policy.items() if key != "level"}
    changed = await client.put("/api/v1/policies/red", json=policy | {"channels_by_attempt": [["voice"]]})
    assert changed.status_code == 200, changed.text
    warning = await issue(client, area_codes=[VILLAGE])
    await send_due(ConsoleProvider(), settings=get_settings(), now=utc_now())
    made = {m["channel"]: m["text"] for m in await outbox(client, warning["id"]) if m["to"] == person["phone"]}
    assert set(made) == {"voice", "sms"}
    assert made["voice"].startswith("大风红色预警。") and "收到请按1" in made["voice"]
    assert UG("红色") in made["sms"]


async def test_the_region_gives_its_contacts_language_and_an_sms_report_in_uyghur_is_a_report(
    client: AsyncClient, regions: None
) -> None:
    imported = await client.post(
        "/api/v1/regions/import", content="code,name,level,parent_code,language\n"
        f"{VILLAGE},艾维尔沟村,village,{TOWNSHIP},ug\n".encode(), headers={"Content-Type": "text/csv"},
    )  # fmt: skip
    assert imported.status_code == 200, imported.text
    person = await create_contact(client, VILLAGE, channels=["sms"])
    assert person["language"] == "ug"
    assert (await client.post("/api/v1/contacts/{}/report-link".format(person["id"]))).status_code in (200, 201, 202)
    await send_all()
    link_sms = [m for m in await outbox(client) if m["to"] == person["phone"]][-1]["text"]
    assert "/r/" in link_sms and "险情上报链接" not in link_sms
