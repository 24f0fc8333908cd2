"""What a key scoped to a region reads of the record: its warnings' own events, every event about a
call or region inside its subtree (message.sent included), and every policy change; nothing of
another county's."""

from httpx import AsyncClient

from tests.factories import COUNTY, OTHER_TOWNSHIP, VILLAGE, bearer, create_contact, create_key, issue, send_all

OTHER_VILLAGE = "650107004001"  # under 乌拉泊街道


async def events(anonymous: AsyncClient, headers: dict[str, str], **params: str) -> list[dict]:
    found, cursor = [], None
    while True:
        query = {"limit": "1000", **params, **({"cursor": cursor} if cursor else {})}
        page = (await anonymous.get("/api/v1/audit/events", params=query, headers=headers)).json()
        found += page["items"]
        if not (cursor := page["next_cursor"]):
            return found


async def test_a_township_auditor_reads_its_warnings_calls_messages_and_policies(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    await create_contact(client, OTHER_VILLAGE)
    theirs = await create_contact(client, VILLAGE)
    policy = {"reach": ["county", "township", "village"], "ack_timeout_s": 40, "max_attempts": 4,
              "channels_by_attempt": [["sms", "voice"]], "escalate": True}  # fmt: skip
    assert (await client.put("/api/v1/policies/red", json=policy)).status_code == 200
    local = await issue(client, area_codes=[OTHER_VILLAGE], title="乌拉泊预警")
    elsewhere = await issue(client, area_codes=[VILLAGE], title="艾维尔沟预警")
    county_wide = await issue(client, area_codes=[COUNTY], title="全县预警")
    await send_all()
    auditor = bearer(await create_key(client, "auditor", OTHER_TOWNSHIP))
    seen = await events(anonymous, auditor)
    types = {(e["type"], e["warning_id"]) for e in seen}
    assert ("policy.changed", None) in types
    for warning in (local, county_wide):  # overlapping warnings: their own events and their calls' messages
        assert ("warning.issued", warning["id"]) in types and ("message.sent", warning["id"]) in types
    assert all(e["warning_id"] != elsewhere["id"] for e in seen)
    phones = str(seen)
    # The other village's person is nowhere in what this auditor reads, masked or not (the masked
    # form keeps the first six and the last four digits).
    assert theirs["phone"][:6] + "****" + theirs["phone"][-4:] not in phones and theirs["phone"] not in phones
    assert "****" in phones  # and every number masked

    admin = {"Authorization": client.headers["Authorization"]}
    subtree = await events(anonymous, admin, region_code=OTHER_TOWNSHIP)
    assert {e["seq"] for e in subtree} == {e["seq"] for e in seen}  # region_code selects the subtree
    # A county auditor asking for the township sees what the township's auditor sees, no more.
    county = bearer(await create_key(client, "auditor", COUNTY))
    asked = await events(anonymous, county, region_code=OTHER_TOWNSHIP)
    assert {e["seq"] for e in asked} == {e["seq"] for e in seen}
