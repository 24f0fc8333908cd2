"""Policies: DOMAIN.md's defaults, changed by admins, kept by warnings issued before the change."""

from httpx import AsyncClient

from tests.factories import bearer, create_key, issue, roster

RED = {
    "reach": ["county", "township", "village"], "ack_timeout_s": 300, "max_attempts": 4,
    "channels_by_attempt": [["sms", "voice"]], "escalate": True, "escalate_above_county": False,
}  # fmt: skip


async def test_defaults_are_domain_md(client: AsyncClient) -> None:
    items = (await client.get("/api/v1/policies")).json()["items"]
    assert [p["level"] for p in items] == ["red", "orange", "yellow", "blue"]
    # Red and orange broadcast on the village loudspeakers by default (CONTRACT: Languages and loudspeakers).
    assert items[0] == {"level": "red", **RED, "broadcast": True, "broadcast_repeat": 3}
    assert [p["broadcast"] for p in items] == [True, True, False, False]
    assert items[2]["reach"] == ["township", "village"] and items[2]["ack_timeout_s"] == 1800
    assert items[3]["escalate"] is False and items[3]["max_attempts"] == 1


async def test_put_changes_a_policy_and_is_audited(client: AsyncClient) -> None:
    changed = {**RED, "ack_timeout_s": 600, "channels_by_attempt": [["voice"]]}
    response = await client.put("/api/v1/policies/red", json=changed)
    assert response.status_code == 200
    assert (await client.get("/api/v1/policies/red")).json()["ack_timeout_s"] == 600
    from sqlalchemy import select

    from app.db import session_scope
    from app.models.audit import AuditEvent

    async with session_scope() as session:
        event = await session.scalar(select(AuditEvent).where(AuditEvent.type == "policy.changed"))
    assert event is not None and event.data["before"]["ack_timeout_s"] == 300


async def test_bad_policies_are_refused(client: AsyncClient) -> None:
    for bad in ({**RED, "max_attempts": 0}, {**RED, "channels_by_attempt": [["fax"]]}, {**RED, "reach": []},
                {**RED, "ack_timeout_s": -1}, {"reach": ["village"]}, {**RED, "broadcast_repeat": 0}):  # fmt: skip
        response = await client.put("/api/v1/policies/red", json=bad)
        assert response.status_code == 422, bad
    assert (await client.put("/api/v1/policies/purple", json=RED)).status_code == 404
    assert (await client.get("/api/v1/policies/red")).json() == {"level": "red", **RED, "broadcast": True,
                                                                 "broadcast_repeat": 3}  # fmt: skip


async def test_a_policy_may_stop_broadcasting_and_left_out_takes_its_default(client: AsyncClient) -> None:
    quiet = await client.put("/api/v1/policies/red", json={**RED, "broadcast": False, "broadcast_repeat": 5})
    assert quiet.status_code == 200 and quiet.json()["broadcast"] is False and quiet.json()["broadcast_repeat"] == 5
    back = await client.put("/api/v1/policies/red", json=RED)
    assert back.json()["broadcast"] is True and back.json()["broadcast_repeat"] == 3
    yellow = (await client.get("/api/v1/policies/yellow")).json()
    sent = {name: value for name, value in yellow.items() if name not in ("level", "broadcast")}
    assert (await client.put("/api/v1/policies/yellow", json=sent)).json()["broadcast"] is False


async def test_only_admins_change_policies(client: AsyncClient, anonymous: AsyncClient, regions: None) -> None:
    token = await create_key(client, "duty_officer", "650107")
    assert (await anonymous.put("/api/v1/policies/red", json=RED, headers=bearer(token))).status_code == 403
    assert (await anonymous.get("/api/v1/policies/red", headers=bearer(token))).status_code == 200


async def test_a_warning_keeps_the_policy_it_was_issued_under(client: AsyncClient, regions: None) -> None:
    await roster(client)
    warning = await issue(client)
    await client.put("/api/v1/policies/red", json={**RED, "ack_timeout_s": 3600})
    again = (await client.get(f"/api/v1/warnings/{warning['id']}")).json()
    assert again["policy"]["ack_timeout_s"] == 300
