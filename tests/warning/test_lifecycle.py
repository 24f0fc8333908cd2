"""Cancel (解除 / 撤回), update, expiry, manual acknowledgement, confirmation and the timeline."""

from datetime import timedelta

from httpx import AsyncClient

from app.call import chase as call_chase
from app.config import get_settings
from app.db import session_scope, utc_now
from app.notify.console import ConsoleProvider
from app.notify.sender import send_due
from app.warning import lifecycle
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
    process_plan,
    send_all,
    warning_body,
)


async def test_cancel_closes_calls_and_tells_those_notified(client: AsyncClient, regions: None) -> None:
    told = await create_contact(client, VILLAGE)
    warning = await issue(client)
    await send_all()
    late_comer = await create_contact(client, VILLAGE)  # not on this warning at all
    response = await client.post(f"/api/v1/warnings/{warning['id']}/cancel", json={"reason": "大风减弱"})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "cancelled" and body["calls"]["by_status"] == {"cancelled": 1}
    await send_all()
    notices = [m for m in await outbox(client, warning["id"]) if m["kind"] == "lifting"]
    assert [(m["to"], m["channel"]) for m in notices] == [(told["phone"], "sms")]
    assert "解除" in notices[0]["text"] and late_comer["phone"] not in {m["to"] for m in notices}
    again = await client.post(f"/api/v1/warnings/{warning['id']}/cancel", json={"reason": "again"})
    assert again.status_code == 409


async def test_withdrawal_says_issued_in_error(client: AsyncClient, regions: None) -> None:
    await create_contact(client)
    warning = await issue(client)
    await send_all()
    await client.post(f"/api/v1/warnings/{warning['id']}/cancel", json={"reason": "误发", "kind": "withdrawn"})
    await send_all()
    notices = [m for m in await outbox(client, warning["id"]) if m["kind"] == "withdrawal"]
    assert len(notices) == 1 and "撤回" in notices[0]["text"]


async def test_people_never_notified_are_not_told(client: AsyncClient, regions: None) -> None:
    await create_contact(client)
    warning = await issue(client)  # cancelled before the sender ran
    await client.post(f"/api/v1/warnings/{warning['id']}/cancel", json={"reason": "误发", "kind": "withdrawn"})
    await send_all()
    assert await outbox(client, warning["id"]) == []


async def test_update_supersedes_and_lifts_for_those_no_longer_targeted(client: AsyncClient, regions: None) -> None:
    staying = await create_contact(client, VILLAGE)
    leaving = await create_contact(client, OTHER_TOWNSHIP)
    old = await issue(client)
    await send_all()
    response = await client.post(
        f"/api/v1/warnings/{old['id']}/update", json=warning_body(level="orange", area_codes=[TOWNSHIP])
    )
    assert response.status_code == 201
    new = response.json()
    assert new["supersedes"] == old["id"] and new["level"] == "orange" and new["calls"]["total"] == 1
    old_now = (await client.get(f"/api/v1/warnings/{old['id']}")).json()
    assert old_now["status"] == "superseded" and old_now["superseded_by"] == new["id"]
    assert set(old_now["calls"]["by_status"]) == {"cancelled"}
    await send_all()
    lifted = [m["to"] for m in await outbox(client, old["id"]) if m["kind"] == "lifting"]
    assert lifted == [leaving["phone"]]
    fresh = [m["to"] for m in await outbox(client, new["id"]) if m["kind"] == "alert"]
    assert fresh == [staying["phone"]]


async def test_expiry_closes_the_warning_and_tells_everyone(client: AsyncClient, regions: None) -> None:
    await create_contact(client)
    expires = (utc_now() + timedelta(hours=1)).isoformat()
    warning = await issue(client, expires=expires)
    await send_all()
    async with session_scope() as session:
        assert await lifecycle.expire_due(session, plan=process_plan(), now=utc_now()) == 0
    later = utc_now() + timedelta(hours=2)
    async with session_scope() as session:
        assert await lifecycle.expire_due(session, plan=process_plan(), now=later) == 1
    body = (await client.get(f"/api/v1/warnings/{warning['id']}")).json()
    assert body["status"] == "expired" and body["calls"]["by_status"] == {"cancelled": 1}
    await send_due(ConsoleProvider(), settings=get_settings(), now=later)
    assert [m["kind"] for m in await outbox(client, warning["id"])].count("lifting") == 1


async def test_manual_acknowledgement_by_the_duty_officer(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    await create_contact(client)
    warning = await issue(client)
    call = (await calls(client, warning["id"]))[0]
    officer = await create_key(client, "duty_officer", TOWNSHIP, name="乡镇值班员李")
    response = await anonymous.post(
        f"/api/v1/calls/{call['id']}/ack", json={"method": "phone", "note": "电话已叫醒"}, headers=bearer(officer)
    )
    assert response.status_code == 200 and response.json()["ack_method"] == "manual"
    outsider = await create_key(client, "duty_officer", OTHER_TOWNSHIP)
    denied = await anonymous.post(f"/api/v1/calls/{call['id']}/ack", json={"method": "radio"}, headers=bearer(outsider))
    assert denied.status_code == 403
    assert (await client.post(f"/api/v1/calls/{call['id']}/ack", json={"method": "pigeon"})).status_code == 422
    timeline = (await client.get(f"/api/v1/warnings/{warning['id']}/timeline")).json()["items"]
    acked = next(e for e in timeline if e["type"] == "call.acknowledged")
    assert acked["actor"] == "乡镇值班员李" and acked["data"]["how"] == "phone"


async def test_acknowledging_a_cancelled_call_is_409(client: AsyncClient, regions: None) -> None:
    await create_contact(client)
    warning = await issue(client)
    call = (await calls(client, warning["id"]))[0]
    await client.post(f"/api/v1/warnings/{warning['id']}/cancel", json={})
    assert (await client.post(f"/api/v1/calls/{call['id']}/ack", json={"method": "phone"})).status_code == 409


async def test_confirming_a_region_reached_by_other_means(client: AsyncClient, regions: None) -> None:
    warning = await issue(client)  # nobody on record: every region uncovered
    url = f"/api/v1/warnings/{warning['id']}/regions/{VILLAGE}/confirm"
    first = await client.post(url, json={"method": "visit", "note": "乡干部上门"})
    assert first.status_code == 200
    assert first.json()["state"] == "reached" and first.json()["reached_by"] == "confirmed"
    assert (await client.post(url, json={"method": "visit"})).json() == first.json()
    assert (await client.post(f"/api/v1/warnings/{warning['id']}/regions/441900/confirm", json={})).status_code == 404


async def test_timeline_tells_the_story_in_order(client: AsyncClient, anonymous: AsyncClient, regions: None) -> None:
    await create_contact(client)
    warning = await issue(client)
    await send_all()
    sms = next(m for m in await outbox(client, warning["id"]) if m["channel"] == "sms")
    await anonymous.post(f"/ack/{sms['ack_url'].rsplit('/', 1)[1]}/feedback", json={"stage": "initial"})
    await client.post(f"/api/v1/warnings/{warning['id']}/cancel", json={"reason": "解除"})
    events = (await client.get(f"/api/v1/warnings/{warning['id']}/timeline")).json()["items"]
    types = [e["type"] for e in events]
    assert types[:2] == ["warning.issued", "call.created"]
    for later in ("message.sent", "call.acknowledged", "region.reached", "feedback.received", "warning.cancelled"):
        assert later in types, later
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    auditor = await create_key(client, "auditor")
    masked = (await anonymous.get(f"/api/v1/warnings/{warning['id']}/timeline", headers=bearer(auditor))).json()
    created = next(e for e in masked["items"] if e["type"] == "call.created")
    assert "****" in created["data"]["phone"]


async def test_calls_past_their_deadline_become_unanswered(client: AsyncClient, regions: None) -> None:

    await create_contact(client)
    answered = await create_contact(client)
    warning = await issue(client)
    await send_all()
    first = next(c for c in await calls(client, warning["id"]) if c["contact"]["phone"] == answered["phone"])
    await client.post(f"/api/v1/calls/{first['id']}/ack", json={"method": "phone"})
    assert await call_chase.chase_due(now=utc_now()) == 0
    assert await call_chase.chase_due(now=utc_now() + timedelta(seconds=301)) == 1  # the warning chased
    assert await call_chase.chase_due(now=utc_now() + timedelta(seconds=302)) == 0
    statuses = sorted(c["status"] for c in await calls(client, warning["id"]))
    assert statuses == ["acknowledged", "unanswered"]
    events = (await client.get(f"/api/v1/warnings/{warning['id']}/timeline")).json()["items"]
    assert [e["type"] for e in events].count("call.unanswered") == 1


async def test_a_cancel_during_a_send_round_reaches_those_being_called(client: AsyncClient, regions: None) -> None:
    from app.notify.claim import claim

    person = await create_contact(client)
    warning = await issue(client)
    claimed = await claim(utc_now(), 100, **claim_args())  # a sender mid-round (or one that died there)
    assert len(claimed) == 2
    await client.post(f"/api/v1/warnings/{warning['id']}/cancel", json={"reason": "误发", "kind": "withdrawn"})
    later = utc_now() + timedelta(seconds=61)  # the claimed alert may be reclaimed now: it must not go
    await send_due(ConsoleProvider(), settings=get_settings(), now=later)
    kinds = [(m["kind"], m["to"]) for m in await outbox(client, warning["id"])]
    assert kinds == [("withdrawal", person["phone"])]


async def test_an_update_cannot_be_a_dry_run(client: AsyncClient, regions: None) -> None:
    await create_contact(client)
    old = await issue(client)
    await send_all()
    response = await client.post(f"/api/v1/warnings/{old['id']}/update", json=warning_body(mode="test"))
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"] == ["body", "mode"]
    # Nothing changed: the warning is in force, nobody was told it ended, no dry run was stored.
    assert (await client.get(f"/api/v1/warnings/{old['id']}")).json()["status"] == "active"
    await send_all()
    assert [m["kind"] for m in await outbox(client, old["id"])] == ["alert", "alert"]
    assert len((await client.get("/api/v1/warnings")).json()["items"]) == 1


async def test_a_scoped_timeline_shows_only_the_subtree(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    mine = await create_contact(client, VILLAGE)
    await create_contact(client, OTHER_TOWNSHIP)
    warning = await issue(client)
    await send_all()
    officer = await create_key(client, "duty_officer", TOWNSHIP)
    events = (await anonymous.get(f"/api/v1/warnings/{warning['id']}/timeline", headers=bearer(officer))).json()
    phones = {e["data"].get("phone") or e["data"].get("to") for e in events["items"]} - {None}
    assert phones == {mine["phone"]}
    assert any(e["type"] == "warning.issued" for e in events["items"])


async def test_a_foreign_cursor_is_422(client: AsyncClient, regions: None) -> None:
    await create_contact(client)
    warning = await issue(client)
    for cursor in ("²", "9" * 30, "abc"):
        response = await client.get(f"/api/v1/warnings/{warning['id']}/timeline", params={"cursor": cursor})
        assert response.status_code == 422, cursor
        assert (await client.get("/api/v1/dev/outbox", params={"cursor": cursor})).status_code == 422
