"""The `aliyun` provider (SMS) against a loopback stand-in that checks requests as Aliyun's API
reference says Aliyun does (tests/notify/aliyun_cloud.py): signed SendBatchSms requests of at most
100 numbers, each with its own template variables (its own link), one approved template per
message kind; receipts and replies pushed back in arrays, resent and duplicated, changing nothing
the second time."""

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select

from app.call import chase as call_chase
from app.config import get_settings
from app.db import session_scope, utc_now
from app.models.call import Call
from app.notify.aliyun import AliyunProvider, Voice, parse_templates
from app.notify.dispatch import Dispatcher
from app.notify.sender import send_due
from tests.conftest import ADMIN_TOKEN
from tests.factories import CSV, TOWNSHIP, VILLAGE, calls, create_contact, csv_body, issue
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
from tests.web.pages import sign_in

PUSH_SECRET = "aliyun-push-secret"
REPORTS = f"/api/v1/providers/aliyun/{PUSH_SECRET}/sms-report"
REPLIES = f"/api/v1/providers/aliyun/{PUSH_SECRET}/sms-up"
CALL_REPORTS = f"/api/v1/providers/aliyun/{PUSH_SECRET}/voice-report"


@pytest.fixture
def cloud() -> Iterator[AliyunCloud]:
    running = AliyunCloud().start()
    yield running
    running.stop()


def provider_for(cloud: AliyunCloud, *, secret: str = KEY_SECRET) -> AliyunProvider:
    templates = parse_templates(TEMPLATE_SETTING)
    return AliyunProvider(key_id=KEY_ID, key_secret=secret, sign_name=SIGN, templates=templates, endpoint=cloud.url)


@asynccontextmanager
async def serving(provider: AliyunProvider, app: Any) -> AsyncIterator[Dispatcher]:
    """The provider as the only one of its channels, and the service taking Aliyun's pushes."""
    settings = app.state.settings
    before = settings.aliyun_secret
    settings.aliyun_secret = PUSH_SECRET
    made = Dispatcher.serving(provider)
    await made.start()
    try:
        yield made
    finally:
        await made.close()
        settings.aliyun_secret = before


@pytest.fixture
async def aliyun(cloud: AliyunCloud, app: Any) -> AsyncIterator[Dispatcher]:
    async with serving(provider_for(cloud), app) as dispatcher:
        yield dispatcher


async def many_people(client: AsyncClient, count: int) -> None:
    rows = ["name,phone,region_code,role,rank,channels"]
    rows += [f"村干部{n},+86137{n:08d},{VILLAGE},村委会主任,{n % 99 + 1},sms" for n in range(count)]
    response = await client.post("/api/v1/contacts/import", content=csv_body(*rows), headers=CSV)
    assert response.status_code == 200, response.text


async def test_a_batch_goes_as_signed_requests_of_100_each_with_its_own_link(
    client: AsyncClient, regions: None, cloud: AliyunCloud, aliyun: Dispatcher
) -> None:
    await many_people(client, 120)
    warning = await issue(client, level="orange", area_codes=[VILLAGE])
    assert await send_due(aliyun, settings=get_settings(), now=utc_now()) == 120
    assert cloud.refusals == []
    assert sorted(len(json.loads(r["PhoneNumberJson"])) for r in cloud.requests) == [20, 100]  # side by side
    assert {sent.template for sent in cloud.sent} == {"SMS_ALERT"}
    tokens = {sent.variables["token"] for sent in cloud.sent}
    assert len(tokens) == 120  # each person their own link
    first = cloud.sent[0]
    assert first.variables["title"] == "大风橙色预警" and first.variables["area"] == "工人新村社区居委会"
    assert first.text.startswith(f"【{SIGN}】大风橙色预警：") and first.text.endswith(
        f"/ack/{first.variables['token']}"
    )
    assert {m.status for m in await messages_of(warning["id"])} == {"sent"}
    assert {m.provider for m in await messages_of(warning["id"])} == {"aliyun"}


async def test_receipts_and_replies_pushed_twice_change_nothing_the_second_time(
    client: AsyncClient, anonymous: AsyncClient, regions: None, cloud: AliyunCloud, aliyun: Dispatcher
) -> None:
    answering = await create_contact(client, channels=["sms"])
    await create_contact(client, channels=["sms"])
    warning = await issue(client, level="orange", area_codes=[VILLAGE])
    assert await send_due(aliyun, settings=get_settings(), now=utc_now()) == 2
    reports = cloud.reports()
    reports[1] |= {"success": False, "err_code": "MK:0001", "err_msg": "用户关机"}
    for _ in range(2):  # Aliyun pushes again when unsure, and sometimes twice
        pushed = await anonymous.post(REPORTS, json=reports)
        assert pushed.status_code == 200 and pushed.json() == {"code": 0, "msg": "成功"}
    statuses = sorted(m.status for m in await messages_of(warning["id"]))
    assert statuses == ["delivered", "failed"]
    failed = next(m for m in await messages_of(warning["id"]) if m.status == "failed")
    assert "MK:0001" in (failed.error or "")
    reply = [{"phone_number": answering["phone"].removeprefix("+86"), "send_time": "2026-12-04 12:00:00",
              "content": "收到", "sign_name": SIGN, "dest_code": "1234", "sequence_id": 987654321}]  # fmt: skip
    for _ in range(2):
        assert (await anonymous.post(REPLIES, json=reply)).json() == {"code": 0, "msg": "成功"}
    answered = next(c for c in await calls(client, warning["id"]) if c["contact"]["phone"] == answering["phone"])
    assert answered["status"] == "acknowledged" and answered["ack_method"] == "sms_reply"
    events = (await client.get(f"/api/v1/warnings/{warning['id']}/timeline", params={"limit": 100})).json()["items"]
    assert [e["type"] for e in events].count("call.acknowledged") == 1
    wrong = await anonymous.post("/api/v1/providers/aliyun/guessed/sms-report", json=reports)
    assert wrong.status_code == 401 and wrong.headers["content-type"] == "application/problem+json"


async def test_an_escalation_goes_as_its_template_with_the_silent_villages_counted(
    client: AsyncClient, regions: None, cloud: AliyunCloud, aliyun: Dispatcher
) -> None:
    await create_contact(client, TOWNSHIP, channels=["sms"])
    for village in ("650107001001", "650107001002", "650107001003"):
        await create_contact(client, village, channels=["sms"])
    warning = await issue(client, level="orange", area_codes=[TOWNSHIP])
    created = datetime.fromisoformat(warning["created_at"])
    await send_due(aliyun, settings=get_settings(), now=utc_now())
    escalated_at = created + timedelta(seconds=warning["policy"]["ack_timeout_s"] + 1)
    await call_chase.chase_due(now=escalated_at)
    await send_due(aliyun, settings=get_settings(), now=escalated_at)
    (escalated,) = [sent for sent in cloud.sent if sent.template == "SMS_ESCALATION"]
    area = escalated.variables["area"]
    assert len(area) <= 35 and area.count("、") == 2  # all three silent villages named
    assert "未应答，请上门叫醒" in escalated.text


async def test_a_wrong_key_is_refused_by_aliyun_and_nothing_is_lost(
    client: AsyncClient, regions: None, cloud: AliyunCloud
) -> None:
    await create_contact(client, channels=["sms"])
    warning = await issue(client, level="orange", area_codes=[VILLAGE])
    wrong = Dispatcher.serving(provider_for(cloud, secret="not-the-secret"))
    await wrong.start()
    try:
        assert await send_due(wrong, settings=get_settings(), now=utc_now()) == 0
    finally:
        await wrong.close()
    assert cloud.refusals == ["SignatureDoesNotMatch"]
    assert {m.status for m in await messages_of(warning["id"])} == {"pending"}  # waits for a provider that works


def test_forty_silent_villages_fit_one_variable() -> None:
    from app.notify.aliyun_fields import _fitted_listing

    shown = _fitted_listing([f"第{n}村民委员会" for n in range(1, 41)])
    assert len(shown) <= 35 and shown.endswith("等40处")


def test_template_settings_name_every_kind() -> None:
    with pytest.raises(ValueError, match="no template for"):
        parse_templates("alert=SMS_1")
    with pytest.raises(ValueError, match="KIND=TEMPLATE_CODE"):
        parse_templates("alert=SMS_1,sms=SMS_2")


def voiced(cloud: AliyunCloud) -> AliyunProvider:
    voice = Voice(endpoint=cloud.url, number=VOICE_NUMBER, templates=parse_templates(VOICE_SETTING),
                  ack_template="TTS_ACK")  # fmt: skip
    return AliyunProvider(key_id=KEY_ID, key_secret=KEY_SECRET, sign_name=SIGN,
                          templates=parse_templates(TEMPLATE_SETTING), endpoint=cloud.url, voice=voice)  # fmt: skip


@pytest.fixture
async def aliyun_voice(cloud: AliyunCloud, app: Any) -> AsyncIterator[Dispatcher]:
    async with serving(voiced(cloud), app) as dispatcher:
        yield dispatcher


async def test_a_red_warning_calls_by_ivr_and_key_1_answers(
    client: AsyncClient, anonymous: AsyncClient, regions: None, cloud: AliyunCloud, aliyun_voice: Dispatcher
) -> None:
    person = await create_contact(client)  # sms and voice
    warning = await issue(client, area_codes=[VILLAGE])  # red: SMS and voice at once
    assert await send_due(aliyun_voice, settings=get_settings(), now=utc_now()) == 2
    (call,) = cloud.calls
    assert call.template == "TTS_ALERT" and call.callee == person["phone"].removeprefix("+86")
    assert call.speech == "大风红色预警，请立即做好防范。确认收到请按1。" and len(cloud.sent) == 1
    for _ in range(2):  # pushed again: the same answer, nothing more
        pushed = await anonymous.post(CALL_REPORTS, json=cloud.call_reports(dtmf="1"))
        assert pushed.json() == {"code": 0, "msg": "成功"}
    (answered,) = await calls(client, warning["id"])
    assert answered["status"] == "acknowledged" and answered["ack_method"] == "voice_key"
    voice = next(m for m in await messages_of(warning["id"]) if m.channel == "voice")
    assert voice.status == "delivered"


async def test_a_call_not_picked_up_is_a_failure_that_brings_the_next_attempt_forward(
    client: AsyncClient, anonymous: AsyncClient, regions: None, cloud: AliyunCloud, aliyun_voice: Dispatcher
) -> None:
    await create_contact(client, channels=["voice"])
    warning = await issue(client, area_codes=[VILLAGE])
    assert await send_due(aliyun_voice, settings=get_settings(), now=utc_now()) == 1
    before = await next_attempt(warning["id"])
    await anonymous.post(CALL_REPORTS, json=cloud.call_reports(dtmf="", status_code="200003"))
    (message,) = await messages_of(warning["id"])
    assert message.status == "failed" and "200003" in (message.error or "") and "用户未接" in (message.error or "")
    assert (await calls(client, warning["id"]))[0]["status"] != "acknowledged"
    assert await next_attempt(warning["id"]) < before


async def next_attempt(warning_id: str) -> datetime:
    async with session_scope() as session:
        due = await session.scalar(select(Call.next_attempt_at).where(Call.warning_id == warning_id))
    assert due is not None
    return due


async def test_voice_attempts_stay_within_aliyuns_per_callee_limits(
    client: AsyncClient, anonymous: AsyncClient, regions: None, cloud: AliyunCloud, aliyun_voice: Dispatcher
) -> None:
    # A ladder faster than Aliyun lets one callee be called: a voice attempt every 20 s.
    policy = {"reach": ["county", "township", "village"], "ack_timeout_s": 100, "max_attempts": 5,
              "channels_by_attempt": [["voice"]], "escalate": False}  # fmt: skip
    assert (await client.put("/api/v1/policies/red", json=policy)).status_code == 200
    await create_contact(client, channels=["voice"])
    warning = await issue(client, area_codes=[VILLAGE])
    created = datetime.fromisoformat(warning["created_at"])
    for seconds in (0, 20, 40, 60, 80):
        await send_due(aliyun_voice, settings=get_settings(), now=created + timedelta(seconds=seconds))
    assert cloud.refusals == []  # Aliyun never had to refuse one
    assert len(cloud.calls) <= 2  # at most one a minute over the 80 s
    held = [m for m in await messages_of(warning["id"]) if m.status == "cancelled"]
    assert held and all("limited" in (m.error or "") or "merged" in (m.error or "") for m in held)
    # The duty officer sees it beside the person: their calls were held back, not lost.
    await sign_in(anonymous, ADMIN_TOKEN)
    board = (await anonymous.get(f"/console/warnings/{warning['id']}")).text
    assert "网关限制对同一号码的呼叫次数" in board and "次呼叫已并入下一次" in board


async def test_a_call_not_picked_up_still_counts_against_the_callee_limit(
    client: AsyncClient, anonymous: AsyncClient, regions: None, cloud: AliyunCloud, aliyun_voice: Dispatcher
) -> None:
    await create_contact(client, channels=["voice"])
    warning = await issue(client, area_codes=[VILLAGE])
    created = datetime.fromisoformat(warning["created_at"])
    assert await send_due(aliyun_voice, settings=get_settings(), now=created) == 1
    await anonymous.post(CALL_REPORTS, json=cloud.call_reports(dtmf="", status_code="200003"))
    for seconds in (5, 10, 30):  # the failure brings the next attempt forward: it waits out the minute
        await send_due(aliyun_voice, settings=get_settings(), now=created + timedelta(seconds=seconds))
    assert len(cloud.calls) == 1 and cloud.refusals == []
    assert (await calls(client, warning["id"]))[0]["attempts"] < 4  # attempts not burnt on refusals


async def test_one_number_twice_in_a_round_keeps_both_receipts(
    client: AsyncClient, anonymous: AsyncClient, regions: None, cloud: AliyunCloud, aliyun: Dispatcher
) -> None:
    await create_contact(client, channels=["sms"])
    first = await issue(client, level="orange", area_codes=[VILLAGE], title="甲")
    second = await issue(client, level="orange", area_codes=[VILLAGE], title="乙")
    assert await send_due(aliyun, settings=get_settings(), now=utc_now()) == 2
    assert len(cloud.requests) == 2  # never one number twice in one request: its BizId would not tell them apart
    bad = {"phone_number": "139", "biz_id": "", "success": "maybe"}  # an item that does not read: skipped
    assert (await anonymous.post(REPORTS, json=[*cloud.reports(), bad])).json() == {"code": 0, "msg": "成功"}
    for warning in (first, second):
        assert [m.status for m in await messages_of(warning["id"])] == ["delivered"]


async def test_key_1_on_a_call_that_ended_early_answers_and_calls_no_more(
    client: AsyncClient, anonymous: AsyncClient, regions: None, cloud: AliyunCloud, aliyun_voice: Dispatcher
) -> None:
    await create_contact(client, channels=["voice"])
    warning = await issue(client, area_codes=[VILLAGE])
    await send_due(aliyun_voice, settings=get_settings(), now=utc_now())
    await anonymous.post(CALL_REPORTS, json=cloud.call_reports(dtmf="1", status_code="200001"))
    (call,) = await calls(client, warning["id"])
    assert call["status"] == "acknowledged" and call["ack_method"] == "voice_key"
    await send_due(aliyun_voice, settings=get_settings(), now=utc_now() + timedelta(seconds=90))
    assert len(cloud.calls) == 1
