"""The sender hands pending messages to the console provider, once, and the calls become notified."""

from datetime import timedelta

from httpx import AsyncClient
from sqlalchemy import func, select

from app.config import get_settings
from app.db import session_scope, utc_now
from app.models.notify import Message
from app.notify.claim import claim
from app.notify.console import ConsoleProvider
from app.notify.sender import send_due
from tests.factories import calls, claim_args, create_contact, issue, outbox, send_all


async def test_first_attempt_goes_out_on_both_red_channels(client: AsyncClient, regions: None) -> None:
    contact = await create_contact(client)
    warning = await issue(client)
    assert await send_all() == 2
    messages = await outbox(client, warning["id"])
    assert sorted(m["channel"] for m in messages) == ["sms", "voice"]
    sms = next(m for m in messages if m["channel"] == "sms")
    voice = next(m for m in messages if m["channel"] == "voice")
    assert sms["to"] == contact["phone"] and sms["kind"] == "alert"
    assert sms["ack_url"] and sms["ack_url"] in sms["text"] and len(sms["text"]) <= 134
    assert "红色预警" in sms["text"] and "大风" in sms["text"] and "工人新村社区居委会" in sms["text"]
    assert sms["text"].startswith("【叫应】")
    assert voice["ack_url"] is None and "http" not in voice["text"] and voice["text"].endswith("收到请按1。")
    call = (await calls(client, warning["id"]))[0]
    assert call["status"] == "notified" and call["attempts"] == 1 and call["notified_at"]


async def test_orange_first_attempt_is_sms_only(client: AsyncClient, regions: None) -> None:
    await create_contact(client)
    warning = await issue(client, level="orange")
    await send_all()
    assert [m["channel"] for m in await outbox(client, warning["id"])] == ["sms"]


async def test_a_person_without_the_channel_gets_their_own(client: AsyncClient, regions: None) -> None:
    await create_contact(client, channels=["voice"])
    warning = await issue(client, level="orange")
    await send_all()
    assert [m["channel"] for m in await outbox(client, warning["id"])] == ["voice"]


async def test_long_texts_are_cut_to_two_segments(client: AsyncClient, regions: None) -> None:
    await create_contact(client)
    warning = await issue(client, instruction="立即组织人员转移，" * 40)
    await send_all()
    sms = next(m for m in await outbox(client, warning["id"]) if m["channel"] == "sms")
    assert len(sms["text"]) <= 134 and sms["text"].endswith(sms["ack_url"]) and "…" in sms["text"]


async def test_the_dev_outbox_lists_newest_first_and_filters_by_warning(client: AsyncClient, regions: None) -> None:
    await create_contact(client)
    first = await issue(client, title="第一条")
    await send_all()
    second = await issue(client, title="第二条")
    await send_all()
    listed = (await client.get("/api/v1/dev/outbox")).json()["items"]
    assert [m["warning_id"] for m in listed] == [second["id"]] * 2 + [first["id"]] * 2
    only = (await client.get("/api/v1/dev/outbox", params={"warning_id": first["id"]})).json()["items"]
    assert {m["warning_id"] for m in only} == {first["id"]} and len(only) == 2
    # Paged newest first: the second page goes on where the first ended, down to the oldest.
    page = (await client.get("/api/v1/dev/outbox", params={"limit": 3})).json()
    rest = (await client.get("/api/v1/dev/outbox", params={"limit": 3, "cursor": page["next_cursor"]})).json()
    assert [m["message_id"] for m in page["items"] + rest["items"]] == [m["message_id"] for m in listed]
    assert rest["next_cursor"] is None


async def test_nothing_is_sent_twice(client: AsyncClient, regions: None) -> None:
    await create_contact(client)
    await issue(client)
    assert await send_all() == 2
    assert await send_all() == 0
    assert len(await outbox(client)) == 2


async def test_a_message_stuck_in_sending_is_resent_under_its_id(client: AsyncClient, regions: None) -> None:
    await create_contact(client)
    await issue(client)
    claimed = await claim(utc_now(), 100, **claim_args())  # a sender that claimed the attempt, then died
    assert len(claimed) == 2
    assert (
        await send_due(ConsoleProvider(), settings=get_settings(), now=utc_now()) == 0
    )  # not yet: it may still be on its way
    later = utc_now() + timedelta(seconds=62)  # past JIAOYING_SEND_RECLAIM_S (60 s), before attempt 2 (75 s)
    assert await send_due(ConsoleProvider(), settings=get_settings(), now=later) == 2
    async with session_scope() as session:
        statuses = (await session.execute(select(Message.status, func.count()).group_by(Message.status))).all()
    assert dict(statuses) == {"sent": 2}
    assert sorted(m["message_id"] for m in await outbox(client)) == sorted(m.message_id for m in claimed)


async def test_later_attempts_follow_the_ladder(client: AsyncClient, regions: None) -> None:
    await create_contact(client)
    warning = await issue(client, level="orange")  # 600 s over 4 attempts: sms, then voice
    await send_all()
    start = utc_now()
    assert await send_due(ConsoleProvider(), settings=get_settings(), now=start + timedelta(seconds=100)) == 0
    assert await send_due(ConsoleProvider(), settings=get_settings(), now=start + timedelta(seconds=151)) == 1
    channels = [m["channel"] for m in await outbox(client, warning["id"])]
    assert channels == ["sms", "voice"]
    assert (await calls(client, warning["id"]))[0]["attempts"] == 2


async def test_dev_outbox_exists_only_with_the_console_provider(migrated: str) -> None:
    from httpx import ASGITransport

    from app.config import Settings
    from app.main import create_app
    from tests.conftest import ADMIN_TOKEN

    settings = Settings(database_url=migrated, admin_token=ADMIN_TOKEN, provider="webhook", scheduler="off",
                        webhook_url="http://127.0.0.1:9/messages", webhook_secret="s")  # fmt: skip
    app = create_app(settings)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://127.0.0.1", headers=headers) as http:
        assert (await http.get("/api/v1/dev/outbox")).status_code == 404


async def test_missed_attempts_merge_into_the_latest(client: AsyncClient, regions: None) -> None:
    await create_contact(client)
    warning = await issue(client, level="orange")
    await send_all()
    # The sender was held up past attempts 2 and 3: one message goes, as attempt 3.
    assert await send_due(ConsoleProvider(), settings=get_settings(), now=utc_now() + timedelta(seconds=320)) == 1
    assert (await calls(client, warning["id"]))[0]["attempts"] == 3


def test_a_provider_setting_that_cannot_work_stops_the_start(migrated: str) -> None:
    import pytest

    from app.config import Settings
    from app.main import create_app

    with pytest.raises(ValueError, match="JIAOYING_WEBHOOK_URL"):
        create_app(Settings(database_url=migrated, provider="webhook", scheduler="off"))
    with pytest.raises(ValueError, match="Unknown provider"):
        create_app(Settings(database_url=migrated, providers="sms=smpp", scheduler="off"))
