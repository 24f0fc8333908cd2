"""The delivery core: providers per channel, batches with per-message results, failover, what goes
first when messages must wait, per-callee limits, and the one-click call (一键呼叫)."""

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select

from app.config import Settings, get_settings
from app.db import session_scope, utc_now
from app.models.notify import ConsoleMessage, Message
from app.notify import providers, webhook
from app.notify.base import CalleeLimit
from app.notify.console import ConsoleProvider
from app.notify.dispatch import Dispatcher
from app.notify.sender import send_due
from app.notify.webhook import WebhookProvider
from tests.conftest import ADMIN_TOKEN
from tests.factories import (
    OTHER_TOWNSHIP,
    TOWNSHIP,
    VILLAGE,
    bearer,
    calls,
    claim_args,
    create_contact,
    create_key,
    issue,
    outbox,
)
from tests.notify.receiver import SECRET, Receiver, messages_of, signed_post
from tests.ports import free_port
from tests.web.pages import csrf_of, sign_in

OTHER_VILLAGE = "650107004001"


async def timeline(client: AsyncClient, warning_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/warnings/{warning_id}/timeline", params={"limit": 1000})
    return list(response.json()["items"])


@pytest.fixture
async def started() -> AsyncIterator[list[Dispatcher]]:
    """Dispatchers a test makes, closed after it."""
    made: list[Dispatcher] = []
    yield made
    for dispatcher in made:
        await dispatcher.close()


async def dispatcher_for(started: list[Dispatcher], settings: Settings) -> Dispatcher:
    dispatcher = providers.make_dispatcher(settings)
    await dispatcher.start()
    started.append(dispatcher)
    return dispatcher


def limited_console(per_callee: dict[str, tuple[CalleeLimit, ...]]) -> ConsoleProvider:
    """The console provider declaring per-callee limits, as a cloud's voice provider does."""
    provider = ConsoleProvider()
    provider.capabilities = replace(provider.capabilities, per_callee=per_callee)
    return provider


def test_providers_per_channel_are_read_from_the_settings() -> None:
    assert providers.chains(Settings()) == {"sms": ["console"], "voice": ["console"]}
    both = Settings(providers="sms=webhook, console ; voice=webhook", webhook_url="http://x", webhook_secret="s")
    assert providers.chains(both) == {"sms": ["webhook", "console"], "voice": ["webhook"]}
    assert providers.unavailable_channels(Settings(providers="sms=console")) == ["voice"]
    with pytest.raises(ValueError, match="Unknown provider 'smpp'"):
        providers.chains(Settings(providers="sms=smpp"))
    with pytest.raises(ValueError, match="CHANNEL=PROVIDER"):
        providers.chains(Settings(providers="fax=console"))
    with pytest.raises(ValueError, match="Unknown provider"):
        providers.chains(Settings(provider="carrier-pigeon"))
    with pytest.raises(ValueError, match="twice"):
        providers.chains(Settings(providers="sms=console;sms=webhook"))
    with pytest.raises(ValueError, match="no provider"):
        providers.chains(Settings(providers="sms="))
    for limits in ("voice:0/60", "voice:1/0", "voice:x/60", "fax:1/60"):
        with pytest.raises(ValueError):
            webhook.parse_callee_limits(limits)
    assert webhook.parse_callee_limits("voice:1/60,5/3600") == {"voice": (CalleeLimit(1, 60), CalleeLimit(5, 3600))}


async def test_webhook_posts_signed_batches_of_the_configured_size(
    client: AsyncClient, regions: None, receiver: Receiver, started: list[Dispatcher]
) -> None:
    for _ in range(12):
        await create_contact(client, channels=["sms"])
    warning = await issue(client, level="orange", area_codes=[VILLAGE])
    settings = Settings(provider="webhook", webhook_url=receiver.url, webhook_secret=SECRET, webhook_batch=5)
    dispatcher = await dispatcher_for(started, settings)
    assert await send_due(dispatcher, settings=get_settings(), now=utc_now()) == 12
    assert receiver.bad_signatures == 0
    assert sorted(len(body["messages"]) for body in receiver.bodies) == [2, 5, 5]
    fields = {"message_id", "call_id", "warning_id", "kind", "channel", "to", "text", "ack_url", "level"}
    assert all(set(m) == fields for m in receiver.received)
    stored = await messages_of(warning["id"])
    assert {(m.status, m.provider) for m in stored} == {("sent", "webhook")}
    sent = [e for e in await timeline(client, warning["id"]) if e["type"] == "message.sent"]
    assert len(sent) == 12 and all(e["data"]["messages"][0]["provider"] == "webhook" for e in sent)


async def test_rejected_messages_fail_and_retries_go_again_under_the_same_id(
    client: AsyncClient, regions: None, receiver: Receiver, started: list[Dispatcher]
) -> None:
    vacant = await create_contact(client, channels=["sms"])
    busy = await create_contact(client, channels=["sms"])
    fine = await create_contact(client, channels=["sms"])
    warning = await issue(client, level="orange", area_codes=[VILLAGE])
    receiver.answers = {vacant["phone"][-8:]: ("rejected", "空号"), busy["phone"][-8:]: ("retry", "busy")}
    settings = Settings(provider="webhook", webhook_url=receiver.url, webhook_secret=SECRET)
    dispatcher = await dispatcher_for(started, settings)
    now = utc_now()
    assert await send_due(dispatcher, settings=get_settings(), now=now) == 1
    by_phone = {m.to: m for m in await messages_of(warning["id"]) if m.attempt == 1}
    assert (by_phone[vacant["phone"]].status, by_phone[vacant["phone"]].error) == ("failed", "空号")
    assert (by_phone[busy["phone"]].status, by_phone[busy["phone"]].tries) == ("pending", 1)
    assert by_phone[fine["phone"]].status == "sent"
    events = await timeline(client, warning["id"])
    vacant_call = by_phone[vacant["phone"]].call_id
    failed = [e for e in events if e["type"] == "message.failed"]
    assert failed and all(e["call_id"] == vacant_call and e["data"]["provider"] == "webhook" for e in failed)
    retried = [e for e in events if e["type"] == "call.retried"]
    assert retried and {e["call_id"] for e in retried} == {vacant_call}  # its next attempt brought forward
    assert dispatcher.health["webhook"].failed_rounds == 0  # a gateway that answers is not failing
    receiver.answers = {}
    await send_due(dispatcher, settings=get_settings(), now=now + timedelta(seconds=2))
    resent = [m for m in receiver.received if m["to"] == busy["phone"]]
    assert [m["message_id"] for m in resent] == [by_phone[busy["phone"]].id]


async def test_the_single_message_body_with_a_batch_of_one(
    client: AsyncClient, regions: None, receiver: Receiver, started: list[Dispatcher]
) -> None:
    await create_contact(client)
    await issue(client, area_codes=[VILLAGE])
    settings = Settings(provider="webhook", webhook_url=receiver.url, webhook_secret=SECRET, webhook_batch=1)
    dispatcher = await dispatcher_for(started, settings)
    assert await send_due(dispatcher, settings=get_settings(), now=utc_now()) == 2
    assert len(receiver.bodies) == 2 and all("message_id" in body for body in receiver.bodies)


async def test_a_refusing_primary_fails_over_and_takes_traffic_back_after_a_probe(
    client: AsyncClient, regions: None, started: list[Dispatcher]
) -> None:
    port = free_port()  # nothing listens: connections are refused
    url = f"http://127.0.0.1:{port}/messages"
    settings = Settings(providers="sms=webhook,console;voice=webhook,console", webhook_url=url, webhook_secret=SECRET)
    dispatcher = await dispatcher_for(started, settings)
    for _ in range(5):
        await create_contact(client)
    warning = await issue(client, area_codes=[VILLAGE])
    assert await send_due(dispatcher, settings=get_settings(), now=utc_now()) == 10
    stored = await messages_of(warning["id"])
    async with session_scope() as session:
        carried = list(await session.scalars(select(ConsoleMessage.message_id)))
    assert sorted(carried) == sorted(m.id for m in stored)  # every message, once, by the secondary
    assert {(m.status, m.provider) for m in stored} == {("sent", "console")}
    assert dispatcher.health["webhook"].failed_rounds == 1
    assert (await client.get("/readyz")).json()["degraded"] == []  # the channels still go out

    gateway = Receiver(SECRET, port=port).start()  # the primary comes back
    try:
        await asyncio.sleep(max(dispatcher.health["webhook"].resume_at - time.monotonic(), 0) + 0.05)
        later = await issue(client, area_codes=[VILLAGE], title="第二次预警")
        assert await send_due(dispatcher, settings=get_settings(), now=utc_now()) == 10
        assert dispatcher.health["webhook"].failed_rounds == 0
        assert {m.provider for m in await messages_of(later["id"])} == {"webhook"}
        assert sorted(gateway.ids()) == sorted(m.id for m in await messages_of(later["id"]))
    finally:
        gateway.stop()


async def test_a_channel_whose_every_provider_is_down_shows_as_degraded(
    client: AsyncClient, anonymous: AsyncClient, app: Any, regions: None, started: list[Dispatcher]
) -> None:
    url = f"http://127.0.0.1:{free_port()}/messages"
    settings = app.state.settings
    before = settings.provider, settings.webhook_url, settings.webhook_secret
    settings.provider, settings.webhook_url, settings.webhook_secret = "webhook", url, SECRET
    try:
        dispatcher = await dispatcher_for(started, settings)
        await create_contact(client)
        warning = await issue(client, area_codes=[VILLAGE])
        assert await send_due(dispatcher, settings=get_settings(), now=utc_now()) == 0
        assert {m.status for m in await messages_of(warning["id"])} == {"pending"}  # nothing lost
        ready = await anonymous.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["channels"] == {"sms": "degraded", "voice": "degraded"}
        await sign_in(anonymous, ADMIN_TOKEN)
        page = (await anonymous.get("/console")).text
        assert "短信、语音通道中断" in page
    finally:
        settings.provider, settings.webhook_url, settings.webhook_secret = before


async def test_a_channel_nobody_carries_goes_by_the_other_and_is_on_the_record(
    client: AsyncClient, anonymous: AsyncClient, app: Any, regions: None
) -> None:
    both = await create_contact(client)
    voice_only = await create_contact(client, channels=["voice"])
    warning = await issue(client, area_codes=[VILLAGE])
    dispatcher = providers.make_dispatcher(Settings(providers="sms=console"))
    assert await send_due(dispatcher, settings=get_settings(), now=utc_now()) == 1
    sent = await outbox(client, warning["id"])
    assert [(m["to"], m["channel"]) for m in sent] == [(both["phone"], "sms")]
    failed = [m for m in await messages_of(warning["id"]) if m.status == "failed"]
    assert [(m.to, m.channel) for m in failed] == [(voice_only["phone"], "voice")]
    assert "no provider is configured for voice" in (failed[0].error or "")
    events = [e for e in await timeline(client, warning["id"]) if e["type"] == "message.failed"]
    assert len(events) == 1 and events[0]["call_id"] == failed[0].call_id
    settings = app.state.settings
    settings.providers = "sms=console"
    try:
        await sign_in(anonymous, ADMIN_TOKEN)
        assert "语音通道未配置" in (await anonymous.get("/console")).text
    finally:
        settings.providers = None


async def test_red_goes_before_blue_when_a_rate_limit_makes_messages_wait(
    client: AsyncClient, regions: None, receiver: Receiver, started: list[Dispatcher]
) -> None:
    for _ in range(30):
        await create_contact(client, channels=["sms"])
    blue = await issue(client, level="blue", area_codes=[VILLAGE], title="蓝色预警")
    red_people = [await create_contact(client, OTHER_VILLAGE, channels=["sms"]) for _ in range(2)]
    red = await issue(client, level="red", area_codes=[OTHER_VILLAGE], title="红色预警")
    # 4 messages a second: each round claims what goes out in about five seconds (20).
    settings = Settings(provider="webhook", webhook_url=receiver.url, webhook_secret=SECRET, webhook_rate_sms=4)
    dispatcher = await dispatcher_for(started, settings)
    assert dispatcher.batch_size(1000) == 20
    from app.notify.sender import _round

    accepted, _ = await _round(dispatcher, get_settings(), utc_now(), dispatcher.batch_size(1000))
    assert accepted == 20
    first = [m["warning_id"] for m in receiver.received]
    assert first[:2] == [red["id"], red["id"]] and first.count(blue["id"]) == 18
    assert {m["to"] for m in receiver.received[:2]} == {p["phone"] for p in red_people}


async def test_supervisors_go_before_retries_and_retries_after_first_attempts() -> None:
    from app.models.call import priority

    assert priority("red", "escalation", retry=False) < priority("red", "alert", retry=False)
    assert priority("red", "alert", retry=False) < priority("red", "alert", retry=True)
    assert priority("red", "alert", retry=True) < priority("orange", "escalation", retry=False)
    assert priority("yellow", "alert", retry=True) < priority("blue", "escalation", retry=False)


async def test_a_per_callee_limit_holds_a_call_back_and_merges_it_with_the_next(
    client: AsyncClient, regions: None
) -> None:
    policy = {"reach": ["county", "township", "village"], "ack_timeout_s": 120, "max_attempts": 4,
              "channels_by_attempt": [["sms", "voice"]], "escalate": False}  # fmt: skip
    assert (await client.put("/api/v1/policies/red", json=policy)).status_code == 200
    person = await create_contact(client)
    warning = await issue(client, area_codes=[VILLAGE])
    dispatcher = Dispatcher.serving(limited_console({"voice": (CalleeLimit(1, 60), CalleeLimit(5, 3600))}))
    created = (await calls(client, warning["id"]))[0]
    start = utc_now()
    for offset in (0, 31, 61, 91):  # attempts every 30 s; voice allows one a minute
        await send_due(dispatcher, settings=get_settings(), now=start + timedelta(seconds=offset))
    sent = [m for m in await outbox(client, warning["id"]) if m["to"] == person["phone"]]
    assert [m["channel"] for m in sent].count("sms") == 4  # every attempt's SMS
    voice = [m for m in await messages_of(warning["id"]) if m.channel == "voice" and m.status == "sent"]
    assert len(voice) == 2  # attempts 1 and 3; 2 merged into 3, and 4 would break the limit before the deadline
    assert created["deadline_at"] == (await calls(client, warning["id"]))[0]["deadline_at"]


async def test_call_now_calls_everyone_still_silent_once(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    both = await create_contact(client)
    text_only = await create_contact(client, channels=["sms"])
    answered = await create_contact(client)
    warning = await issue(client, area_codes=[VILLAGE])
    await send_due(ConsoleProvider(), settings=get_settings(), now=utc_now())
    done = {c["contact"]["phone"]: c for c in await calls(client, warning["id"])}
    ack = await client.post(f"/api/v1/calls/{done[answered['phone']]['id']}/ack", json={"method": "phone", "note": ""})
    assert ack.status_code == 200
    officer = bearer(await create_key(client, "duty_officer", "650107", name="县值班员李明"))
    path = f"/api/v1/warnings/{warning['id']}/call-now"
    pressed = await anonymous.post(path, headers=officer)
    assert pressed.status_code == 200, pressed.text
    assert pressed.json()["calls"] == 2 and pressed.json()["repeated"] is False
    again = await anonymous.post(path, headers=officer)
    assert again.json() == {**pressed.json(), "calls": 0, "repeated": True}
    before = len(await outbox(client, warning["id"]))
    await send_due(ConsoleProvider(), settings=get_settings(), now=utc_now())
    extra = (await outbox(client, warning["id"]))[before:]
    assert sorted((m["to"], m["channel"]) for m in extra) == sorted(
        [(both["phone"], "voice"), (text_only["phone"], "sms")]
    )
    after = {c["contact"]["phone"]: c for c in await calls(client, warning["id"])}
    for phone, call in after.items():  # not counted against the ladder; deadlines as they were
        assert call["attempts"] == done[phone]["attempts"] and call["deadline_at"] == done[phone]["deadline_at"]
    retried = [e for e in await timeline(client, warning["id"]) if e["type"] == "call.retried"]
    assert len(retried) == 2 and {e["actor"] for e in retried} == {"县值班员李明"}
    elsewhere = bearer(await create_key(client, "duty_officer", OTHER_TOWNSHIP))
    assert (await anonymous.post(path, headers=elsewhere)).status_code == 403
    auditor = bearer(await create_key(client, "auditor", "650107"))
    assert (await anonymous.post(path, headers=auditor)).status_code == 403
    await client.post(f"/api/v1/warnings/{warning['id']}/cancel", json={"reason": "雨停"})
    assert (await anonymous.post(path, headers=officer)).status_code == 409


async def test_receipts_and_replies_come_in_arrays(client: AsyncClient, regions: None, gateway_secret: None) -> None:
    texter = await create_contact(client)
    other = await create_contact(client)
    warning = await issue(client, area_codes=[VILLAGE])
    await send_due(ConsoleProvider(), settings=get_settings(), now=utc_now())
    stored = await messages_of(warning["id"])
    receipts = [{"message_id": m.id, "status": "delivered"} for m in stored] + [
        {"message_id": "01nobodysentthis000000000", "status": "delivered"}
    ]
    answer = await signed_post(client, "/api/v1/providers/webhook/receipts", receipts)
    assert answer.status_code == 200 and answer.json()["unknown"] == 1
    assert [r["status"] for r in answer.json()["results"]] == ["delivered"] * len(stored) + ["unknown"]
    assert {m.status for m in await messages_of(warning["id"])} == {"delivered"}
    bad = await signed_post(
        client, "/api/v1/providers/webhook/receipts",
        [{"message_id": stored[0].id, "status": "failed"}, {"message_id": "x", "status": "lost"}],
    )  # fmt: skip
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["body", 1, "status"]
    assert {m.status for m in await messages_of(warning["id"])} == {"delivered"}  # nothing of it taken
    replies = [
        {"inbound_id": "a-1", "from": texter["phone"], "channel": "sms", "text": "好的"},
        {"inbound_id": "a-2", "from": other["phone"], "channel": "sms", "text": "没收到链接，打不开"},
    ]
    taken = await signed_post(client, "/api/v1/providers/webhook/inbound", replies)
    assert [r["result"] for r in taken.json()["results"]] == ["acknowledged", "reply"]
    statuses = {c["contact"]["phone"]: c["status"] for c in await calls(client, warning["id"])}
    assert statuses == {texter["phone"]: "acknowledged", other["phone"]: "notified"}


async def test_a_dead_gateway_is_probed_not_hammered(
    client: AsyncClient, regions: None, started: list[Dispatcher]
) -> None:
    url = f"http://127.0.0.1:{free_port()}/messages"
    provider = WebhookProvider(url, SECRET)
    dispatcher = Dispatcher.serving(provider)
    started.append(dispatcher)
    for _ in range(40):
        await create_contact(client, channels=["sms"])
    await issue(client, level="orange", area_codes=[VILLAGE])
    began = time.monotonic()
    while time.monotonic() - began < 2:
        await send_due(dispatcher, settings=get_settings(), now=utc_now())
        await asyncio.sleep(0.05)
    assert provider.requests <= 1 + 3  # one batch, then single probes ever further apart


async def test_the_board_has_the_one_click_call(client: AsyncClient, anonymous: AsyncClient, regions: None) -> None:
    silent = await create_contact(client)
    warning = await issue(client, area_codes=[VILLAGE])
    await send_due(ConsoleProvider(), settings=get_settings(), now=utc_now())
    token = await create_key(client, "duty_officer", "650107", name="县值班员王芳")
    await sign_in(anonymous, token)
    board = await anonymous.get(f"/console/warnings/{warning['id']}")
    assert "一键呼叫未应答人员" in board.text
    pressed = await anonymous.post(f"/console/warnings/{warning['id']}/call-now", data={"csrf": csrf_of(board)})
    assert pressed.status_code == 303 and "done=called" in pressed.headers["location"]
    await send_due(ConsoleProvider(), settings=get_settings(), now=utc_now())
    sent = await outbox(client, warning["id"])
    assert [(m["to"], m["channel"]) for m in sent][-1] == (silent["phone"], "voice") and len(sent) == 3
    again = await anonymous.post(f"/console/warnings/{warning['id']}/call-now", data={"csrf": csrf_of(board)})
    assert "done=called_again" in again.headers["location"]
    assert "一分钟内已一键呼叫过" in (await anonymous.get(again.headers["location"])).text


async def test_a_call_to_a_supervisor_goes_before_the_alerts_waiting_with_it(
    client: AsyncClient, regions: None
) -> None:
    from app.notify.claim import claim

    for _ in range(5):
        await create_contact(client, channels=["sms"])
    await create_contact(client, TOWNSHIP, channels=["sms"])
    # Two of the township's three villages have nobody on record: its cadre is called about them at once.
    warning = await issue(client, area_codes=[TOWNSHIP])
    assert warning["escalations"]["total"] == 1
    first = await claim(utc_now() + timedelta(seconds=1), 1, **claim_args())
    assert [m.kind for m in first] == ["escalation"]


def test_a_probing_primary_does_not_slow_a_healthy_secondary() -> None:
    primary = WebhookProvider("http://127.0.0.1:9/messages", SECRET)
    dispatcher = Dispatcher({"sms": [primary, ConsoleProvider()]})
    dispatcher.health["webhook"].failed_rounds = 3  # its pause is over: the next round probes it
    assert dispatcher.batch_size(1000) == 1000
    only = Dispatcher({"sms": [primary]})
    only.health["webhook"].failed_rounds = 3
    assert only.batch_size(1000) == 1  # nothing else to carry the channel: claim one, to probe


async def test_a_gateway_asking_for_a_message_again_keeps_it_rather_than_failing_it_over(
    client: AsyncClient, regions: None, receiver: Receiver, started: list[Dispatcher]
) -> None:
    busy = await create_contact(client, channels=["sms"])
    warning = await issue(client, level="orange", area_codes=[VILLAGE])
    receiver.answers = {busy["phone"][-8:]: ("retry", "queue full")}
    settings = Settings(providers="sms=webhook,console", webhook_url=receiver.url, webhook_secret=SECRET)
    dispatcher = await dispatcher_for(started, settings)
    assert await send_due(dispatcher, settings=get_settings(), now=utc_now()) == 0
    (message,) = await messages_of(warning["id"])
    assert (message.status, message.error) == ("pending", "queue full")  # sent again later, by the webhook
    assert await outbox(client, warning["id"]) == []
    assert dispatcher.health["webhook"].failed_rounds == 0


async def test_notices_go_by_a_carried_channel_after_everything_more_urgent(
    app: Any, client: AsyncClient, regions: None
) -> None:
    from app.models.call import priority

    both = await create_contact(client)
    voice_only = await create_contact(client, channels=["voice"])
    warning = await issue(client, level="blue", area_codes=[VILLAGE])
    await send_due(ConsoleProvider(), settings=get_settings(), now=utc_now())
    app.state.settings.providers = "sms=console"  # voice no longer carried when the warning ends
    try:
        await client.post(f"/api/v1/warnings/{warning['id']}/cancel", json={"reason": "雨停"})
    finally:
        app.state.settings.providers = None
    notices = {m.to: m for m in await messages_of(warning["id"]) if m.attempt == 0}
    assert (notices[both["phone"]].channel, notices[both["phone"]].status) == ("sms", "pending")
    assert notices[voice_only["phone"]].status == "failed"
    assert "no provider is configured for voice" in (notices[voice_only["phone"]].error or "")
    assert {m.priority for m in notices.values()} == {priority("blue", "alert", retry=True)}
    failed = [e for e in await timeline(client, warning["id"]) if e["type"] == "message.failed"]
    assert [e["call_id"] for e in failed] == [notices[voice_only["phone"]].call_id]


async def test_replies_with_control_characters_and_repeated_receipts_are_taken_once(
    client: AsyncClient, regions: None, gateway_secret: None
) -> None:
    first = await create_contact(client, channels=["sms"])
    second = await create_contact(client, channels=["sms"])
    warning = await issue(client, level="orange", area_codes=[VILLAGE])
    await send_due(ConsoleProvider(), settings=get_settings(), now=utc_now())
    replies = [
        {"inbound_id": "n-1", "from": first["phone"], "channel": "sms", "text": "收\x00到"},
        {"inbound_id": "n-2", "from": second["phone"], "channel": "sms", "text": "ＯＫ"},
    ]
    taken = await signed_post(client, "/api/v1/providers/webhook/inbound", replies)
    assert taken.status_code == 200 and [r["result"] for r in taken.json()["results"]] == ["acknowledged"] * 2
    (one, _) = await messages_of(warning["id"])
    twice = [{"message_id": one.id, "status": "delivered"}, {"message_id": one.id, "status": "failed"},
             {"message_id": "x" * 60, "status": "delivered"}]  # fmt: skip
    answer = await signed_post(client, "/api/v1/providers/webhook/receipts", twice)
    assert answer.status_code == 200 and answer.json()["unknown"] == 1
    events = [e["type"] for e in await timeline(client, warning["id"])]
    assert events.count("message.delivered") == 1 and "message.failed" not in events and "call.retried" not in events


async def test_a_per_callee_limit_holds_within_one_round(client: AsyncClient, regions: None) -> None:
    person = await create_contact(client, channels=["voice"])
    await issue(client, area_codes=[VILLAGE], title="第一个预警")
    await issue(client, area_codes=[VILLAGE], title="第二个预警", hazard="山洪")
    await send_due(
        Dispatcher.serving(limited_console({"voice": (CalleeLimit(1, 60),)})), settings=get_settings(), now=utc_now()
    )
    async with session_scope() as session:
        voice = list(await session.scalars(select(Message).where(Message.to == person["phone"])))
    assert sorted(m.status for m in voice) == ["pending", "sent"]  # the second waits a minute
    waiting = next(m for m in voice if m.status == "pending")
    sent = next(m for m in voice if m.status == "sent")
    assert waiting.due_at >= (sent.sent_at or sent.created_at) + timedelta(seconds=59)


def test_the_channel_names_schemas_accept_are_the_registry_s() -> None:
    from typing import get_args

    from app.channels import NAMES, ChannelName

    assert get_args(ChannelName) == NAMES


async def test_kannel_reports_settle_messages_and_a_failure_brings_the_next_attempt_forward(
    client: AsyncClient, anonymous: AsyncClient, app: Any, regions: None
) -> None:
    first = await create_contact(client, channels=["sms"])
    second = await create_contact(client, channels=["sms"])
    warning = await issue(client, level="orange", area_codes=[VILLAGE])
    await send_due(ConsoleProvider(), settings=get_settings(), now=utc_now())
    by_phone = {m.to: m for m in await messages_of(warning["id"])}
    settings = app.state.settings
    settings.kannel_secret = "kannel-secret"
    try:
        base = "/api/v1/providers/kannel/kannel-secret/dlr"
        for phone, report in ((first["phone"], 8), (first["phone"], 1), (second["phone"], 2)):
            answer = await anonymous.get(base, params={"id": by_phone[phone].id, "type": report})
            assert answer.status_code == 200, answer.text
        assert (await anonymous.get(base, params={"id": "01nobodysentthis000000000", "type": 1})).status_code == 200
        wrong = await anonymous.get("/api/v1/providers/kannel/guess/dlr", params={"id": "x", "type": 1})
        assert wrong.status_code == 401
    finally:
        settings.kannel_secret = None
    after = {m.to: (m.status, m.provider) for m in await messages_of(warning["id"]) if m.attempt == 1}
    assert after[first["phone"]][0] == "delivered" and after[second["phone"]][0] == "failed"
    retried = [e for e in await timeline(client, warning["id"]) if e["type"] == "call.retried"]
    assert [e["call_id"] for e in retried] == [by_phone[second["phone"]].call_id]


async def test_a_failed_probe_hands_the_rest_of_the_round_to_the_next_provider(
    client: AsyncClient, regions: None, started: list[Dispatcher]
) -> None:
    """A probe that failed once held the round's other messages back with no outcome at all: they
    sat in `sending` until the reclaim, on every failed probe while the gateway was down."""
    for _ in range(5):
        await create_contact(client, channels=["sms"])
    warning = await issue(client, level="orange", area_codes=[VILLAGE])
    dead = WebhookProvider(f"http://127.0.0.1:{free_port()}/messages", SECRET)
    dispatcher = Dispatcher({"sms": [dead, ConsoleProvider()]})
    await dispatcher.start()
    started.append(dispatcher)
    dispatcher.health["webhook"].failed_rounds = 1  # back from a pause: one message probes it
    assert await send_due(dispatcher, settings=get_settings(), now=utc_now()) == 5
    assert {(m.status, m.provider) for m in await messages_of(warning["id"])} == {("sent", "console")}
