"""The language a contact reads: its own (API and roster import), else its region's default, else Chinese."""

import pytest
from httpx import AsyncClient

from tests.factories import CSV, VILLAGE, contact_body, create_contact, csv_body

HEADER = "name,phone,region_code,role,rank,channels"

pytestmark = pytest.mark.usefixtures("regions", "catalogs")


async def _set_default(client: AsyncClient, region_code: str, language: str) -> None:
    """Give a region a default language through the regions import (its own row, as it is)."""
    region = (await client.get(f"/api/v1/regions/{region_code}")).json()
    row = f"{region['code']},{region['name']},{region['level']},{region['parent_code'] or ''},{language}"
    body = csv_body("code,name,level,parent_code,language", row)
    response = await client.post("/api/v1/regions/import", content=body, headers=CSV)
    assert response.json() == {"created": 0, "updated": 1}, response.text


async def _read(client: AsyncClient, contact_id: str) -> dict:
    return (await client.get(f"/api/v1/contacts/{contact_id}")).json()


async def _changes(client: AsyncClient, contact_id: str) -> list[dict]:
    events = (await client.get("/api/v1/audit/events", params={"type": "contact.changed"})).json()["items"]
    return [event["data"].get("changes") for event in events if event["data"]["contact_id"] == contact_id]


async def test_a_contact_made_without_a_language_reads_chinese_then_its_regions_default(client: AsyncClient) -> None:
    contact = await create_contact(client)
    assert contact["language"] == "zh"
    await _set_default(client, VILLAGE, "ug")
    assert (await _read(client, contact["id"]))["language"] == "ug"
    listed = (await client.get("/api/v1/contacts", params={"region_code": VILLAGE})).json()["items"]
    assert [c["language"] for c in listed] == ["ug"]


async def test_a_contacts_own_language_is_stored_lower_case_and_wins_over_the_region(client: AsyncClient) -> None:
    await _set_default(client, VILLAGE, "ug")
    contact = await create_contact(client, language="KK")
    assert contact["language"] == "kk"
    assert (await _read(client, contact["id"]))["language"] == "kk"
    assert (await create_contact(client, language="zh"))["language"] == "zh"


async def test_patch_sets_a_language_and_null_returns_to_the_regions_default(client: AsyncClient) -> None:
    await _set_default(client, VILLAGE, "ug")
    contact = await create_contact(client)
    url = f"/api/v1/contacts/{contact['id']}"
    response = await client.patch(url, json={"language": "kk"})
    assert response.status_code == 200 and response.json()["language"] == "kk"
    assert (await client.patch(url, json={"rank": 2})).json()["language"] == "kk"  # untouched when not named
    cleared = await client.patch(url, json={"language": None})
    assert cleared.status_code == 200 and cleared.json()["language"] == "ug"
    # The record keeps the contact's own setting: None while it follows its region.
    assert (await _changes(client, contact["id"]))[1:] == [
        {"language": [None, "kk"]},
        {"rank": [1, 2]},
        {"language": ["kk", None]},
    ]


async def test_an_unknown_language_is_422_naming_the_languages_and_changes_nothing(
    client: AsyncClient, catalogs: tuple[str, ...]
) -> None:
    for value in ("fr", "ug-CN", "维吾尔语", ""):
        response = await client.post("/api/v1/contacts", json=contact_body(language=value))
        assert response.status_code == 422, value
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["errors"][0]["loc"] == ["body", "language"]
        assert ", ".join(catalogs) in problem["errors"][0]["msg"] and ", ".join(catalogs) in problem["detail"]
    assert (await client.get("/api/v1/contacts")).json()["items"] == []

    contact = await create_contact(client, language="ug")
    response = await client.patch(f"/api/v1/contacts/{contact['id']}", json={"rank": 2, "language": "fr"})
    assert response.status_code == 422
    assert await _read(client, contact["id"]) == contact
    assert await _changes(client, contact["id"]) == [None]  # created, and nothing since


async def test_import_sets_a_language_per_line_and_an_empty_cell_follows_the_region(client: AsyncClient) -> None:
    await _set_default(client, VILLAGE, "kk")
    body = csv_body(
        HEADER + ",language",
        f"阿依古丽,13900000001,{VILLAGE},村委会主任,1,sms,UG",
        f"王五,13900000002,{VILLAGE},网格员,2,sms,",
    )
    assert (await client.post("/api/v1/contacts/import", content=body, headers=CSV)).json()["created"] == 2
    roster = {c["phone"]: c for c in (await client.get("/api/v1/contacts")).json()["items"]}
    assert roster["+8613900000001"]["language"] == "ug"
    assert roster["+8613900000002"]["language"] == "kk"  # the region's default


async def test_import_without_the_column_keeps_languages_and_an_empty_cell_clears_one(client: AsyncClient) -> None:
    contact = await create_contact(client, phone="13900000001", name="阿依古丽", role="主任", rank=1, language="ug")
    same = csv_body(HEADER, f"阿依古丽,13900000001,{VILLAGE},主任,1,sms|voice")
    result = (await client.post("/api/v1/contacts/import", content=same, headers=CSV)).json()
    assert result["unchanged"] == 1
    assert (await _read(client, contact["id"]))["language"] == "ug"
    cleared = csv_body(HEADER + ",language", f"阿依古丽,13900000001,{VILLAGE},主任,1,sms|voice,")
    result = (await client.post("/api/v1/contacts/import", content=cleared, headers=CSV)).json()
    assert result["updated"] == 1
    assert (await _read(client, contact["id"]))["language"] == "zh"
    assert (await _changes(client, contact["id"]))[-1] == {"language": ["ug", None]}


async def test_import_with_an_unknown_language_names_its_line_and_writes_nothing(
    client: AsyncClient, catalogs: tuple[str, ...]
) -> None:
    contact = await create_contact(client, phone="13900000001", name="阿依古丽", role="主任", rank=1, language="ug")
    body = csv_body(
        HEADER + ",language",
        f"阿依古丽,13900000001,{VILLAGE},主任,1,sms|voice,kk",
        f"王五,13900000002,{VILLAGE},网格员,2,sms,Uyghur",
    )
    response = await client.post("/api/v1/contacts/import", content=body, headers=CSV)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert errors == [{"loc": ["line", 3], "msg": errors[0]["msg"]}]
    assert "Uyghur" in errors[0]["msg"] and ", ".join(catalogs) in errors[0]["msg"]
    assert [c["id"] for c in (await client.get("/api/v1/contacts")).json()["items"]] == [contact["id"]]
    assert (await _read(client, contact["id"]))["language"] == "ug"
