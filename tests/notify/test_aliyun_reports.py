"""Calls about hazard reports and report links through Aliyun: with the county's optional `hazard`
and `report_link` templates they go as those (the report link's token in the template's /r/ link);
without them they go by the channel's next provider, or fail on the record saying no provider
carries them, while the warnings' messages go on through Aliyun."""

from typing import Any

from httpx import AsyncClient
from sqlalchemy import select

from app.config import get_settings
from app.db import session_scope, utc_now
from app.models.notify import Message
from app.notify.aliyun import AliyunProvider, Voice, parse_templates
from app.notify.console import ConsoleProvider
from app.notify.dispatch import Dispatcher
from app.notify.sender import send_due
from tests.factories import TOWNSHIP, VILLAGE, create_contact, issue
from tests.notify.aliyun_cloud import (
    KEY_ID,
    KEY_SECRET,
    SIGN,
    TEMPLATE_SETTING,
    VOICE_NUMBER,
    VOICE_SETTING,
    AliyunCloud,
)
from tests.notify.receiver import messages_of
from tests.notify.test_aliyun import cloud, serving

__all__ = ["cloud"]


async def report_messages(hazard_id: str) -> list[Message]:
    async with session_scope() as session:
        return list(await session.scalars(select(Message).where(Message.hazard_id == hazard_id)))


WITH_REPORTS = TEMPLATE_SETTING + ",hazard=SMS_HAZARD,report_link=SMS_REPORT_LINK"
REPORT = {"region_code": VILLAGE, "category": "山体滑坡", "description": "后山滑坡", "source": "phone", "urgent": True}


def aliyun(cloud: AliyunCloud, sms: str, voice: str | None = None) -> AliyunProvider:
    calls = Voice(endpoint=cloud.url, number=VOICE_NUMBER, templates=parse_templates(voice, "VOICE"),
                  ack_template="TTS_ACK") if voice else None  # fmt: skip
    return AliyunProvider(key_id=KEY_ID, key_secret=KEY_SECRET, sign_name=SIGN, templates=parse_templates(sms),
                          endpoint=cloud.url, voice=calls)  # fmt: skip


async def test_reports_and_report_links_go_as_their_own_templates(
    client: AsyncClient, anonymous: AsyncClient, app: Any, regions: None, cloud: AliyunCloud
) -> None:
    villager = await create_contact(client, VILLAGE, name="村信息员", channels=["sms"])
    township = await create_contact(client, TOWNSHIP, name="街道书记")  # sms and voice
    provider = aliyun(cloud, WITH_REPORTS, VOICE_SETTING + ",hazard=TTS_HAZARD")
    async with serving(provider, app) as dispatcher:
        hazard = (await client.post("/api/v1/hazards", json=REPORT)).json()
        assert (await client.post(f"/api/v1/contacts/{villager['id']}/report-link")).status_code == 200
        await send_due(dispatcher, settings=get_settings(), now=utc_now())
    assert cloud.refusals == []
    (to_township,) = [s for s in cloud.sent if s.phone == township["phone"][3:]]
    assert to_township.template == "SMS_HAZARD" and to_township.variables["title"] == "紧急险情：山体滑坡"
    assert to_township.variables["area"] == "艾维尔沟街道工人新村社区居委会"
    assert to_township.variables["ask"] == "请接报"
    (called,) = [c for c in cloud.calls if c.callee == township["phone"][3:]]  # urgent: SMS and voice at once
    assert called.template == "TTS_HAZARD" and called.speech.startswith("紧急险情：山体滑坡，地点艾维尔沟街道")
    (link,) = [s for s in cloud.sent if s.phone == villager["phone"][3:]]
    assert link.template == "SMS_REPORT_LINK" and link.text.endswith(f"/r/{link.variables['token']}")
    assert (await anonymous.get(f"/r/{link.variables['token']}")).status_code == 200
    assert {m.provider for m in await report_messages(hazard["id"])} == {"aliyun"}


async def test_without_their_templates_they_go_by_the_next_provider_or_fail_saying_so(
    client: AsyncClient, app: Any, regions: None, cloud: AliyunCloud
) -> None:
    await create_contact(client, TOWNSHIP, name="街道书记", channels=["sms"])
    await create_contact(client, VILLAGE, channels=["sms"])
    alone = aliyun(cloud, TEMPLATE_SETTING)
    async with serving(alone, app) as dispatcher:
        first = (await client.post("/api/v1/hazards", json=REPORT)).json()
        warning = await issue(client, level="orange", area_codes=[VILLAGE])
        await send_due(dispatcher, settings=get_settings(), now=utc_now())
        assert dispatcher.health["aliyun"].ready()  # not a gateway's failure: Aliyun carries on
    # Each attempt fails at once, bringing the next forward, until the ladder ends and the deadline
    # passes the report on.
    failed = {(m.status, m.error) for m in await report_messages(first["id"])}
    assert failed == {("failed", "no provider of sms carries hazard messages")}
    assert {m.status for m in await messages_of(warning["id"])} == {"sent"}
    # With a second provider for SMS, the report's messages go by it.
    async with serving(alone, app):
        chained = Dispatcher({"sms": [aliyun(cloud, TEMPLATE_SETTING), ConsoleProvider()]})
        await chained.start()
        second = (await client.post("/api/v1/hazards", json=REPORT | {"description": "又一处滑坡"})).json()
        await send_due(chained, settings=get_settings(), now=utc_now())
        await chained.close()
    assert {(m.provider, m.status) for m in await report_messages(second["id"])} == {("console", "sent")}


async def test_a_channel_that_carries_no_reports_is_left_out_not_failed(
    client: AsyncClient, app: Any, regions: None, cloud: AliyunCloud
) -> None:
    """Voice set up without a hazard template once failed every voice message of a report, each
    failure bringing the next attempt forward: the ladder burnt out in a fraction of a second, an
    SMS each time. The report's attempts now go by SMS alone, as for a channel nobody carries."""
    township = await create_contact(client, TOWNSHIP, name="街道书记")  # sms and voice
    provider = aliyun(cloud, WITH_REPORTS, VOICE_SETTING)
    async with serving(provider, app) as dispatcher:
        hazard = (await client.post("/api/v1/hazards", json=REPORT)).json()
        await send_due(dispatcher, settings=get_settings(), now=utc_now())
    sent = await report_messages(hazard["id"])
    assert [(m.channel, m.status) for m in sent] == [("sms", "sent")]
    assert [s.template for s in cloud.sent if s.phone == township["phone"][3:]] == ["SMS_HAZARD"]
    (call,) = (await client.get(f"/api/v1/hazards/{hazard['id']}")).json()["calls"]
    assert call["attempts"] == 1 and call["status"] == "notified"
