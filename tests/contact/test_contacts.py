"""The roster through the API: create, read, filter, change, deactivate, supervise."""

from httpx import AsyncClient

from tests.factories import (
    COUNTY,
    OTHER_TOWNSHIP,
    TOWNSHIP,
    VILLAGE,
    bearer,
    contact_body,
    create_contact,
    create_key,
)


async def test_create_and_read_a_contact(client: AsyncClient, regions: None) -> None:
    created = await create_contact(client, phone="13800138000")
    assert created["phone"] == "+8613800138000"  # national numbers are stored as E.164
    assert created["active"] is True and created["supervises"] == []
    fetched = (await client.get(f"/api/v1/contacts/{created['id']}")).json()
    assert fetched == created


async def test_supervises_names_regions_below_the_contact(client: AsyncClient, regions: None) -> None:
    cadre = await create_contact(client, TOWNSHIP, role="包村干部", supervises=[VILLAGE, "650107001002"])
    assert cadre["supervises"] == [VILLAGE, "650107001002"]
    response = await client.post("/api/v1/contacts", json=contact_body(TOWNSHIP, supervises=[OTHER_TOWNSHIP]))
    assert response.status_code == 422
    assert OTHER_TOWNSHIP in response.json()["detail"]


async def test_bad_phone_is_422_and_nothing_written(client: AsyncClient, regions: None) -> None:
    for phone in ("12345", "+861062345678", "not a phone"):  # too short, a Beijing landline, text
        response = await client.post("/api/v1/contacts", json=contact_body(phone=phone))
        assert response.status_code == 422, phone
        assert response.json()["errors"][0]["loc"] == ["body", "phone"]
    assert (await client.get("/api/v1/contacts")).json()["items"] == []


async def test_unknown_channel_is_422(client: AsyncClient, regions: None) -> None:
    response = await client.post("/api/v1/contacts", json=contact_body(channels=["sms", "wechat"]))
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"][:2] == ["body", "channels"]
    empty = await client.post("/api/v1/contacts", json=contact_body(channels=[]))
    assert empty.status_code == 422


async def test_unknown_region_is_422(client: AsyncClient, regions: None) -> None:
    response = await client.post("/api/v1/contacts", json=contact_body("650107999999"))
    assert response.status_code == 422
    assert "650107999999" in response.json()["detail"]


async def test_role_is_free_text_up_to_fifty(client: AsyncClient, regions: None) -> None:
    assert (await create_contact(client, role="信息员（兼宣传员）"))["role"] == "信息员（兼宣传员）"
    response = await client.post("/api/v1/contacts", json=contact_body(role="长" * 51))
    assert response.status_code == 422


async def test_same_phone_twice_in_a_region_is_409(client: AsyncClient, regions: None) -> None:
    first = await create_contact(client)
    response = await client.post("/api/v1/contacts", json=contact_body(phone=first["phone"]))
    assert response.status_code == 409
    assert first["id"] in response.json()["detail"]
    # The same person may answer for another region too.
    assert (await client.post("/api/v1/contacts", json=contact_body(TOWNSHIP, phone=first["phone"]))).status_code == 201


async def test_list_filters_by_region_subtree_and_role(client: AsyncClient, regions: None) -> None:
    village = await create_contact(client, VILLAGE, role="网格员")
    township = await create_contact(client, TOWNSHIP, role="包村干部")
    other = await create_contact(client, OTHER_TOWNSHIP, role="包村干部")

    async def ids(**params: object) -> set[str]:
        return {c["id"] for c in (await client.get("/api/v1/contacts", params=params)).json()["items"]}

    assert await ids(region_code=TOWNSHIP) == {township["id"]}
    assert await ids(region_code=TOWNSHIP, subtree=True) == {township["id"], village["id"]}
    assert await ids(region_code="650107", subtree=True) == {village["id"], township["id"], other["id"]}
    assert await ids(role="包村干部") == {township["id"], other["id"]}


async def test_list_is_paged(client: AsyncClient, regions: None) -> None:
    made = [(await create_contact(client))["id"] for _ in range(5)]
    first = (await client.get("/api/v1/contacts", params={"limit": 3})).json()
    second = (await client.get("/api/v1/contacts", params={"limit": 3, "cursor": first["next_cursor"]})).json()
    assert [c["id"] for c in first["items"] + second["items"]] == made
    assert second["next_cursor"] is None


async def test_update_changes_fields_and_keeps_history(client: AsyncClient, regions: None) -> None:
    contact = await create_contact(client)
    response = await client.patch(f"/api/v1/contacts/{contact['id']}", json={"rank": 2, "channels": ["voice"]})
    assert response.status_code == 200
    assert response.json()["rank"] == 2 and response.json()["channels"] == ["voice"]
    events = await _events(contact["id"])
    assert [e.data["action"] for e in events] == ["created", "updated"]
    assert events[1].data["changes"] == {"rank": [1, 2], "channels": [["sms", "voice"], ["voice"]]}


async def test_update_rejects_nulls_and_unknown_fields(client: AsyncClient, regions: None) -> None:
    contact = await create_contact(client)
    for field in ("name", "region_code", "supervises", "rank"):
        assert (await client.patch(f"/api/v1/contacts/{contact['id']}", json={field: None})).status_code == 422
    assert (await client.patch(f"/api/v1/contacts/{contact['id']}", json={"nmae": "李四"})).status_code == 422


async def test_deactivate_keeps_the_row_and_hides_it_from_the_roster(client: AsyncClient, regions: None) -> None:
    contact = await create_contact(client)
    response = await client.delete(f"/api/v1/contacts/{contact['id']}")
    assert response.status_code == 200
    assert response.json()["active"] is False and response.json()["deactivated_at"]
    assert (await client.get("/api/v1/contacts")).json()["items"] == []
    listed = (await client.get("/api/v1/contacts", params={"include_inactive": True})).json()["items"]
    assert [c["id"] for c in listed] == [contact["id"]]
    assert (await client.get(f"/api/v1/contacts/{contact['id']}")).json()["active"] is False
    # Coming back on the roster reactivates the same record.
    again = await client.post("/api/v1/contacts", json=contact_body(phone=contact["phone"]))
    assert again.status_code == 201 and again.json()["id"] == contact["id"]
    assert [e.data["action"] for e in await _events(contact["id"])] == [
        "created",
        "deactivated",
        "reactivated",
    ]


async def test_unknown_contact_is_404(client: AsyncClient) -> None:
    response = await client.get("/api/v1/contacts/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_duty_officer_maintains_only_its_subtree(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    token = await create_key(client, "duty_officer", TOWNSHIP)
    inside = await anonymous.post("/api/v1/contacts", json=contact_body(VILLAGE), headers=bearer(token))
    assert inside.status_code == 201
    outside = await anonymous.post("/api/v1/contacts", json=contact_body(OTHER_TOWNSHIP), headers=bearer(token))
    assert outside.status_code == 403
    stranger = await create_contact(client, OTHER_TOWNSHIP)
    read = await anonymous.get(f"/api/v1/contacts/{stranger['id']}", headers=bearer(token))
    assert read.status_code == 403
    listed = (await anonymous.get("/api/v1/contacts", headers=bearer(token))).json()["items"]
    assert [c["id"] for c in listed] == [inside.json()["id"]]
    wider = await anonymous.get("/api/v1/contacts", params={"region_code": COUNTY}, headers=bearer(token))
    assert wider.status_code == 403
    moved = await anonymous.patch(
        f"/api/v1/contacts/{inside.json()['id']}", json={"region_code": OTHER_TOWNSHIP}, headers=bearer(token)
    )
    assert moved.status_code == 403


async def test_auditor_reads_but_cannot_write(client: AsyncClient, anonymous: AsyncClient, regions: None) -> None:
    token = await create_key(client, "auditor", COUNTY)
    contact = await create_contact(client)
    assert (await anonymous.get(f"/api/v1/contacts/{contact['id']}", headers=bearer(token))).status_code == 200
    response = await anonymous.post("/api/v1/contacts", json=contact_body(), headers=bearer(token))
    assert response.status_code == 403
    assert (await anonymous.delete(f"/api/v1/contacts/{contact['id']}", headers=bearer(token))).status_code == 403


async def _events(contact_id: str):
    from sqlalchemy import select

    from app.db import session_scope
    from app.models.audit import AuditEvent

    async with session_scope() as session:
        query = select(AuditEvent).where(AuditEvent.type == "contact.changed").order_by(AuditEvent.seq)
        return [e for e in await session.scalars(query) if e.data["contact_id"] == contact_id]


def test_mainland_fast_path_agrees_with_the_general_parser() -> None:
    import random

    import phonenumbers

    from app.phones import normalize_mobile

    generator = random.Random(20261122)
    for _ in range(5000):
        digits = "1" + "".join(generator.choice("0123456789") for _ in range(10))
        for raw in (digits, "+86" + digits):
            try:
                ours: str | None = normalize_mobile(raw)
            except ValueError:
                ours = None
            try:
                parsed = phonenumbers.parse(raw, "CN")
                mobile = phonenumbers.is_valid_number(parsed) and phonenumbers.number_type(parsed) in (1, 2)
                theirs = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) if mobile else None
            except phonenumbers.NumberParseException:
                theirs = None
            assert ours == theirs, raw


async def test_role_and_rank_are_required(client: AsyncClient, regions: None) -> None:
    body = contact_body()
    del body["role"], body["rank"]
    response = await client.post("/api/v1/contacts", json=body)
    assert response.status_code == 422
    assert {tuple(e["loc"]) for e in response.json()["errors"]} == {("body", "role"), ("body", "rank")}


async def test_bad_region_code_names_the_field(client: AsyncClient, regions: None) -> None:
    response = await client.post("/api/v1/contacts", json=contact_body("65-01"))
    assert response.status_code == 422
    assert response.json()["errors"] == [{"loc": ["body", "region_code"], "msg": "not a 6- or 12-digit region code"}]


async def test_concurrent_identical_creates_conflict_cleanly(client: AsyncClient, regions: None) -> None:
    import asyncio

    body = contact_body()
    responses = await asyncio.gather(*(client.post("/api/v1/contacts", json=body) for _ in range(8)))
    codes = sorted(r.status_code for r in responses)
    assert codes.count(201) == 1 and set(codes) <= {201, 409}, codes


async def test_nul_in_text_is_refused_not_500(client: AsyncClient, regions: None) -> None:
    response = await client.post("/api/v1/contacts", json=contact_body(name="王\u0000五"))
    assert response.status_code == 422
    assert (await client.get("/api/v1/contacts/%00")).status_code in (404, 422)
    assert (await client.get("/api/v1/contacts", params={"role": "\x00"})).status_code in (200, 422)


async def test_deactivating_a_contact_cancels_their_open_calls(client: AsyncClient, regions: None) -> None:
    from tests.factories import calls, issue

    leaving = await create_contact(client)
    staying = await create_contact(client)
    warning = await issue(client)
    await client.delete(f"/api/v1/contacts/{leaving['id']}")
    statuses = {c["contact"]["id"]: c["status"] for c in await calls(client, warning["id"])}
    assert statuses == {leaving["id"]: "cancelled", staying["id"]: "pending"}


async def test_auditors_see_every_phone_masked_in_the_roster_and_its_changes(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    contact = await create_contact(client)
    moved = await client.patch(f"/api/v1/contacts/{contact['id']}", json={"phone": "+8613712345678"})
    assert moved.status_code == 200, moved.text
    auditor = bearer(await create_key(client, "auditor", COUNTY))
    listed = (await anonymous.get("/api/v1/contacts", params={"region_code": COUNTY, "subtree": True},
                                  headers=auditor)).json()["items"]  # fmt: skip
    assert [c["phone"] for c in listed] == ["+86137****5678"]
    one = (await anonymous.get(f"/api/v1/contacts/{contact['id']}", headers=auditor)).json()
    assert one["phone"] == "+86137****5678"
    events = (await anonymous.get("/api/v1/audit/events", params={"type": "contact.changed"}, headers=auditor)).json()
    text = str(events)
    assert contact["phone"] not in text and "+8613712345678" not in text and "****" in text
    assert (await client.get(f"/api/v1/contacts/{contact['id']}")).json()["phone"] == "+8613712345678"
