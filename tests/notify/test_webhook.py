"""The webhook provider against a real HTTP gateway on 127.0.0.1, and the signed receipts and replies
a gateway posts back."""

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import orjson
import pytest
from httpx import AsyncClient

from app.config import get_settings
from app.db import session_scope, utc_now
from app.notify import webhook
from app.notify.dispatch import Dispatcher
from app.notify.sender import send_due
from app.notify.webhook import WebhookProvider
from tests.conftest import ADMIN_TOKEN
from tests.factories import VILLAGE, calls, create_contact, issue
from tests.notify.receiver import SECRET, Receiver, messages_of, signed_post
from tests.web.pages import sign_in


@pytest.fixture
async def provider(receiver: Receiver) -> AsyncIterator[Dispatcher]:
    """The webhook provider, batched, as the only provider of every channel."""
    made = Dispatcher.serving(WebhookProvider(receiver.url, SECRET, in_flight=8, timeout_s=5))
    await made.start()
    yield made
    await made.close()


@pytest.fixture
async def single(receiver: Receiver) -> AsyncIterator[Dispatcher]:
    """The webhook provider posting one message per request (JIAOYING_WEBHOOK_BATCH=1)."""
    made = Dispatcher.serving(WebhookProvider(receiver.url, SECRET, batch=1, timeout_s=5))
    await made.start()
    yield made
    await made.close()


def test_a_signature_round_trips_and_nothing_else_passes() -> None:
    body = b'{"message_id": "x"}'
    headers = webhook.signed_headers(SECRET, body)
    timestamp, given = headers["X-Jiaoying-Timestamp"], headers["X-Jiaoying-Signature"]
    assert given.startswith("sha256=") and webhook.verify(SECRET, timestamp, given, body)
    assert not webhook.verify(SECRET, timestamp, given, body + b" ")
    assert not webhook.verify("another-secret", timestamp, given, body)
    assert not webhook.verify(SECRET, timestamp, None, body)
    assert not webhook.verify(SECRET, "²³", given, body)  # digits to str.isdigit, not to int()
    stale = webhook.signed_headers(SECRET, body, now=time.time() - 301)
    assert not webhook.verify(SECRET, stale["X-Jiaoying-Timestamp"], stale["X-Jiaoying-Signature"], body)


async def test_messages_are_posted_signed_with_the_contract_fields(
    client: AsyncClient, regions: None, receiver: Receiver, provider: Dispatcher
) -> None:
    contact = await create_contact(client)
    warning = await issue(client, area_codes=[VILLAGE])
    assert await send_due(provider, settings=get_settings(), now=utc_now()) == 2
    assert receiver.bad_signatures == 0 and len(receiver.received) == 2
    sms = next(m for m in receiver.received if m["channel"] == "sms")
    assert set(sms) == {"message_id", "call_id", "warning_id", "kind", "channel", "to", "text", "ack_url", "level"}
    assert sms["to"] == contact["phone"] and sms["level"] == "red" and sms["ack_url"] in sms["text"]
    assert {m.status for m in await messages_of(warning["id"])} == {"sent"}


async def test_a_500_is_retried_later_under_the_same_id(
    client: AsyncClient, regions: None, receiver: Receiver, single: Dispatcher
) -> None:
    provider = single
    await create_contact(client)
    warning = await issue(client, area_codes=[VILLAGE])
    receiver.fail_next = 1
    now = utc_now()
    assert await send_due(provider, settings=get_settings(), now=now) == 1
    assert all("messages" not in body for body in receiver.bodies)  # the single-message body
    waiting = [m for m in await messages_of(warning["id"]) if m.status == "pending"]
    assert len(waiting) == 1 and waiting[0].tries == 1 and "500" in (waiting[0].error or "")
    assert waiting[0].due_at > now  # backing off, not at once
    assert await send_due(provider, settings=get_settings(), now=now + timedelta(seconds=0.2)) == 0
    assert await send_due(provider, settings=get_settings(), now=now + timedelta(seconds=2)) == 1
    assert sorted(receiver.ids()) == sorted(m.id for m in await messages_of(warning["id"]))
    assert {m.status for m in await messages_of(warning["id"])} == {"sent"}


async def test_an_outage_loses_nothing_and_is_not_hammered(
    client: AsyncClient, regions: None, receiver: Receiver, provider: Dispatcher
) -> None:
    for _ in range(5):
        await create_contact(client)
    warning = await issue(client, area_codes=[VILLAGE])
    receiver.stop()  # connections refused
    started = time.monotonic()
    while time.monotonic() - started < 3:
        await send_due(provider, settings=get_settings(), now=utc_now())
        await asyncio.sleep(0.1)
    down_requests = provider.providers["webhook"].requests  # type: ignore[attr-defined]
    # The first round posts all ten messages in one batch; after it, probes of one, ever further apart.
    assert down_requests <= 1 + 4, down_requests
    assert provider.health["webhook"].failed_rounds >= 1
    receiver.start()
    deadline = time.monotonic() + 30
    while any(m.status != "sent" for m in await messages_of(warning["id"])):
        assert time.monotonic() < deadline, "messages still waiting 30 s after the gateway came back"
        await send_due(provider, settings=get_settings(), now=utc_now())
        await asyncio.sleep(0.1)
    stored = await messages_of(warning["id"])
    assert len(stored) == 10 and sorted(set(receiver.ids())) == sorted(m.id for m in stored)


async def test_receipts_settle_messages_and_a_failure_brings_the_next_attempt_forward(
    client: AsyncClient, regions: None, receiver: Receiver, provider: Dispatcher, gateway_secret: None
) -> None:
    await create_contact(client)
    warning = await issue(client, area_codes=[VILLAGE])
    await send_due(provider, settings=get_settings(), now=utc_now())
    sms, voice = sorted(await messages_of(warning["id"]), key=lambda m: m.channel)
    path = "/api/v1/providers/webhook/receipts"
    delivered = await signed_post(client, path, {"message_id": sms.id, "status": "delivered"})
    assert delivered.status_code == 200 and delivered.json()["status"] == "delivered"
    assert (await signed_post(client, path, {"message_id": sms.id, "status": "delivered"})).status_code == 200
    failed = await signed_post(client, path, {"message_id": voice.id, "status": "failed", "error": "关机"})
    assert failed.json()["status"] == "failed"
    statuses = {m.channel: (m.status, m.error) for m in await messages_of(warning["id"])}
    assert statuses == {"sms": ("delivered", None), "voice": ("failed", "关机")}
    events = (await client.get(f"/api/v1/warnings/{warning['id']}/timeline", params={"limit": 100})).json()["items"]
    types = [e["type"] for e in events]
    assert types.count("message.delivered") == 1 and types.count("message.failed") == 1
    assert types.count("call.retried") == 1  # the failure brought attempt 2 forward
    await send_due(provider, settings=get_settings(), now=utc_now())
    assert (await calls(client, warning["id"]))[0]["attempts"] == 2
    unknown = await signed_post(client, path, {"message_id": "nope", "status": "delivered"})
    assert unknown.status_code == 404


async def test_unsigned_or_stale_requests_get_401_and_change_nothing(
    client: AsyncClient, regions: None, gateway_secret: None
) -> None:
    await create_contact(client)
    warning = await issue(client, area_codes=[VILLAGE])
    body = orjson.dumps({"inbound_id": "r1", "from": "13900000001", "channel": "sms", "text": "收到"})
    path = "/api/v1/providers/webhook/inbound"
    forged = await client.post(path, content=body, headers=webhook.signed_headers("wrong", body))
    assert forged.status_code == 401 and forged.headers["content-type"] == "application/problem+json"
    stale = webhook.signed_headers(SECRET, body, now=time.time() - 600)
    assert (await client.post(path, content=body, headers=stale)).status_code == 401
    assert (await client.post(path, content=body)).status_code == 401
    assert (await calls(client, warning["id"]))[0]["status"] == "pending"


async def test_replies_acknowledge_and_other_texts_are_kept(
    client: AsyncClient, regions: None, gateway_secret: None
) -> None:
    texter = await create_contact(client)
    caller = await create_contact(client)
    chatty = await create_contact(client)
    warning = await issue(client, area_codes=[VILLAGE])
    path = "/api/v1/providers/webhook/inbound"
    national = texter["phone"].removeprefix("+86")
    reply = {"inbound_id": "in-1", "from": national, "channel": "sms", "text": " 收到！ "}
    answered = await signed_post(client, path, reply)
    assert answered.status_code == 200 and answered.json()["result"] == "acknowledged"
    assert (await signed_post(client, path, reply)).json()["result"] == "duplicate"
    key = {"inbound_id": "in-2", "from": caller["phone"], "channel": "voice", "digits": "1"}
    assert (await signed_post(client, path, key)).json()["result"] == "acknowledged"
    other = {"inbound_id": "in-3", "from": chatty["phone"], "channel": "sms", "text": "雨很大，路断了"}
    assert (await signed_post(client, path, other)).json()["result"] == "reply"
    stranger = {"inbound_id": "in-4", "from": "13700000000", "channel": "sms", "text": "收到"}
    assert (await signed_post(client, path, stranger)).json()["result"] == "unknown_phone"
    by_phone = {c["contact"]["phone"]: c for c in await calls(client, warning["id"])}
    assert by_phone[texter["phone"]]["status"] == "acknowledged"
    assert by_phone[texter["phone"]]["ack_method"] == "sms_reply"
    assert by_phone[caller["phone"]]["ack_method"] == "voice_key"
    assert by_phone[chatty["phone"]]["status"] == "pending"
    events = (await client.get(f"/api/v1/warnings/{warning['id']}/timeline", params={"limit": 100})).json()["items"]
    replies = [e for e in events if e["type"] == "reply.received"]
    assert len(replies) == 1 and replies[0]["data"]["text"] == "雨很大，路断了"
    assert [e["type"] for e in events].count("call.acknowledged") == 2


async def test_the_board_shows_replies_that_are_not_answers_newest_first(
    client: AsyncClient, anonymous: AsyncClient, regions: None, gateway_secret: None
) -> None:
    first = await create_contact(client)
    second = await create_contact(client)
    warning = await issue(client, area_codes=[VILLAGE])
    path = "/api/v1/providers/webhook/inbound"
    said = [(first, "没收到链接，打不开"), (second, "雨很大，路断了"), (first, "好的")]
    for number, (person, text) in enumerate(said):
        reply = {"inbound_id": f"b-{number}", "from": person["phone"], "channel": "sms", "text": text}
        assert (await signed_post(client, path, reply)).status_code == 200
    await sign_in(anonymous, ADMIN_TOKEN)
    page = (await anonymous.get(f"/console/warnings/{warning['id']}")).text
    section = page.split('id="replies"')[1].split("</section>")[0]
    assert section.index("雨很大，路断了") < section.index("没收到链接，打不开")  # newest first
    assert "好的" not in section and first["name"] in section  # 好的 acknowledged: not a reply
    statuses = {c["contact"]["phone"]: c["status"] for c in await calls(client, warning["id"])}
    assert statuses == {first["phone"]: "acknowledged", second["phone"]: "pending"}


@pytest.mark.parametrize(
    "text", ["1", "OK", " ok ", "好", "确认", "收到了", "收到", "已收到。", "好的！", "明白", "Ok.", "ＯＫ", "１"]
)
async def test_the_words_that_acknowledge(text: str) -> None:
    from app.ack.replies import is_acknowledgement

    assert is_acknowledgement("sms", text, None)


@pytest.mark.parametrize(
    "text", ["11", "okay", "不好", "确认一下？", "", "没收到", "没有收到", "不明白", "没收到链接，打不开", "收到吗"]
)
async def test_words_that_do_not(text: str) -> None:
    from app.ack.replies import is_acknowledgement

    assert not is_acknowledgement("sms", text, None)
    assert not is_acknowledgement("voice", None, "2")


async def test_a_receipt_faster_than_the_sender_still_leaves_the_call_notified(
    client: AsyncClient, regions: None
) -> None:
    """Gateways answer quickly: the receipt may land before the sender has recorded the hand-over."""
    from app.notify import gateway
    from app.notify.base import Outcome, Outgoing
    from app.notify.console import ConsoleProvider

    class Quick(ConsoleProvider):
        async def send(self, messages: list[Outgoing]) -> list[Outcome]:
            outcomes = await super().send(messages)
            for message in messages:
                async with session_scope() as session:
                    await gateway.record_receipt(session, message.message_id, "delivered", None, now=utc_now())
            return outcomes

    await create_contact(client)
    warning = await issue(client, area_codes=[VILLAGE])
    assert await send_due(Quick(), settings=get_settings(), now=utc_now()) == 2
    stored = await messages_of(warning["id"])
    assert {m.status for m in stored} == {"delivered"} and all(m.sent_at for m in stored)
    call = (await calls(client, warning["id"]))[0]
    assert call["status"] == "notified" and call["notified_at"] and call["attempts"] == 1
    events = (await client.get(f"/api/v1/warnings/{warning['id']}/timeline", params={"limit": 100})).json()["items"]
    assert [e["type"] for e in events].count("message.sent") == 1


@pytest.mark.parametrize("timestamp", ["9" * 5000, "-5", "", "12.5"])
async def test_malformed_timestamps_are_401_not_500(client: AsyncClient, gateway_secret: None, timestamp: str) -> None:
    body = orjson.dumps({"message_id": "x", "status": "delivered"})
    headers = {
        "X-Jiaoying-Timestamp": timestamp,
        "X-Jiaoying-Signature": "sha256=00",
        "Content-Type": "application/json",
    }
    response = await client.post("/api/v1/providers/webhook/receipts", content=body, headers=headers)
    assert response.status_code == 401


async def test_a_receipt_settles_a_message_waiting_for_its_resend(
    client: AsyncClient, regions: None, gateway_secret: None
) -> None:
    """The gateway took it although its answer timed out: the receipt makes the resend unnecessary."""
    await create_contact(client)
    warning = await issue(client, area_codes=[VILLAGE])
    from app.notify.base import Outcome, Outgoing
    from app.notify.console import ConsoleProvider

    class TimesOut(ConsoleProvider):
        async def send(self, messages: list[Outgoing]) -> list[Outcome]:
            return [Outcome(m.message_id, "retry", "gateway timed out") for m in messages]

    await send_due(TimesOut(), settings=get_settings(), now=utc_now())
    waiting = await messages_of(warning["id"])
    assert {m.status for m in waiting} == {"pending"}
    for message in waiting:
        answer = await signed_post(
            client, "/api/v1/providers/webhook/receipts", {"message_id": message.id, "status": "delivered"}
        )
        assert answer.json()["status"] == "delivered"
    assert (
        await send_due(ConsoleProvider(), settings=get_settings(), now=utc_now() + timedelta(seconds=70)) == 0
    )  # nothing resent
