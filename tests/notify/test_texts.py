"""Message texts: an escalation accounts for every region it is about, and no text has doubled
punctuation or empty brackets."""

from httpx import AsyncClient

from app.notify import templates
from tests.call.test_escalation import at
from tests.factories import TOWNSHIP, create_contact, issue, outbox, send_all, token_of

LINK = "https://jiaoying.example.gov.cn/ack/" + "x" * 28
VILLAGES = [f"第{n}村民委员会" for n in range(1, 41)]


def test_an_escalation_about_forty_villages_names_what_fits_and_counts_them_all() -> None:
    sms = templates.escalation_sms(signature="叫应", level="red", hazard="暴雨", mode="actual", unreached=VILLAGES,
                                   link_length=len(LINK)).replace(templates.LINK, LINK)  # fmt: skip
    assert len(sms) <= templates.SMS_MAX and sms.endswith(LINK)
    assert "等40处未应答，请上门叫醒。" in sms and "第1村民委员会" in sms
    voice = templates.escalation_voice(level="red", hazard="暴雨", mode="actual", unreached=VILLAGES)
    assert "40处未应答" in voice and all(name in voice for name in VILLAGES)
    print(f"SMS ({len(sms)} characters): {sms}\nvoice: {voice}")


def test_regions_with_nobody_on_record_are_not_called_silent() -> None:
    sms = templates.escalation_sms(signature="叫应", level="red", hazard="暴雨", mode="actual", unreached=["甲村"],
                                   uncovered=["乙村", "丙村"], link_length=len(LINK))  # fmt: skip
    assert "甲村未应答，乙村、丙村无责任人，请上门叫醒。" in sms
    voice = templates.escalation_voice(level="red", hazard="暴雨", mode="actual", unreached=[], uncovered=["乙村"])
    assert "未应答" not in voice and "1处无责任人：乙村" in voice


def test_no_doubled_full_stops_and_no_empty_brackets() -> None:
    sms = templates.alert_sms(signature="叫应", level="red", hazard="暴雨", mode="actual", area="甲村",
                              instruction="立即转移人员。", link_length=len(LINK))  # fmt: skip
    voice = templates.alert_voice(level="red", hazard="暴雨", mode="actual", area="甲村", instruction="立即转移人员。")
    lifted = templates.closing_text(signature="叫应", kind="lifted", level="red", hazard="暴雨", mode="actual",
                                    area="甲村", reason="雨势减弱。")  # fmt: skip
    withdrawn = templates.closing_text(signature="叫应", kind="withdrawal", level="red", hazard="暴雨", mode="actual",
                                       area="", reason=None)  # fmt: skip
    for text in (sms, voice, lifted, withdrawn):
        assert "。。" not in text and "（）" not in text, text
    assert withdrawn.startswith("【叫应】暴雨红色预警系误发，现予撤回")  # not 预警预警
    assert lifted.startswith("【叫应】暴雨红色预警（甲村）已解除。雨势减弱。")


async def test_an_uncovered_village_is_described_to_its_supervisor_as_without_anyone(
    client: AsyncClient, regions: None
) -> None:
    cadre = await create_contact(client, TOWNSHIP, channels=["sms"])
    await create_contact(client, "650107001001", channels=["sms"])
    warning = await issue(client, area_codes=[TOWNSHIP])  # two of its three villages have nobody on record
    await send_all()
    (sms,) = [m for m in await outbox(client, warning["id"]) if m["kind"] == "escalation"]
    assert sms["to"] == cadre["phone"] and "无责任人，请上门叫醒" in sms["text"] and "未应答" not in sms["text"]


async def test_the_escalation_link_page_counts_and_lists_every_silent_village(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    await create_contact(client, TOWNSHIP, channels=["sms"])
    villages = ["650107001001", "650107001002", "650107001003"]
    for village in villages:
        await create_contact(client, village, channels=["sms"])
    warning = await issue(client, area_codes=[TOWNSHIP])
    for seconds in (0, 75, 150, 225, 301):  # the red ladder, then its deadline
        await at(client, warning, seconds)
    (sms,) = [m for m in await outbox(client, warning["id"]) if m["kind"] == "escalation"]
    page = (await anonymous.get(f"/ack/{token_of(sms)}")).text
    assert "以下 3 处区域无人应答，请上门叫醒" in page
    regions_of = (await client.get(f"/api/v1/warnings/{warning['id']}/regions")).json()["items"]
    names = {region["region_code"]: region["name"] for region in regions_of}
    assert all(names[village] in page for village in villages)
