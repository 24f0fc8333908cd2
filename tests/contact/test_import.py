"""Importing a roster from CSV: all or nothing, upsert by (phone, region), replace a subtree."""

import pytest
from httpx import AsyncClient

from tests.conftest import requires_postgres
from tests.factories import (
    CSV,
    OTHER_TOWNSHIP,
    TOWNSHIP,
    VILLAGE,
    bearer,
    create_contact,
    create_key,
    csv_body,
    times_analyzed,
)

HEADER = "name,phone,region_code,role,rank,channels"


async def _import(client: AsyncClient, body: bytes, **params: str):
    return await client.post("/api/v1/contacts/import", content=body, headers=CSV, params=params)


async def _roster(client: AsyncClient) -> dict[str, dict]:
    items = (await client.get("/api/v1/contacts", params={"limit": 1000})).json()["items"]
    return {c["phone"]: c for c in items}


@requires_postgres
async def test_an_import_that_adds_people_leaves_statistics_for_the_planner(client: AsyncClient, regions: None) -> None:
    before = await times_analyzed("contacts")
    assert (await _import(client, csv_body(HEADER, f"王五,13900000001,{VILLAGE},村委会主任,1,sms"))).status_code == 200
    assert await times_analyzed("contacts") == before + 1
    assert (await _import(client, csv_body(HEADER, f"王五,13900000001,{VILLAGE},村委会主任,1,sms"))).status_code == 200
    assert await times_analyzed("contacts") == before + 1  # nobody new


async def test_import_creates_then_updates_by_phone_and_region(client: AsyncClient, regions: None) -> None:
    body = csv_body(
        HEADER,
        f"王五,13900000001,{VILLAGE},村委会主任,1,sms|voice",
        f"赵六,+8613900000002,{VILLAGE},信息员,2,sms",
    )
    assert (await _import(client, body)).json() == {
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "deactivated": 0,
    }
    changed = csv_body(
        HEADER, f"王五,13900000001,{VILLAGE},村委会主任,1,voice", f"赵六,13900000002,{VILLAGE},信息员,2,sms"
    )
    assert (await _import(client, changed)).json() == {
        "created": 0,
        "updated": 1,
        "unchanged": 1,
        "deactivated": 0,
    }
    roster = await _roster(client)
    assert roster["+8613900000001"]["channels"] == ["voice"]


async def test_import_sets_supervises(client: AsyncClient, regions: None) -> None:
    body = csv_body(
        HEADER + ",supervises", f"包村干部,13900000003,{TOWNSHIP},包村干部,1,sms|voice,{VILLAGE}|650107001002"
    )
    assert (await _import(client, body)).status_code == 200
    assert (await _roster(client))["+8613900000003"]["supervises"] == [VILLAGE, "650107001002"]


BAD_ROWS = {
    "bad phone": (f"王五,1390000,{VILLAGE},主任,1,sms", "phone"),
    "landline": (f"王五,01062345678,{VILLAGE},主任,1,sms", "mobile"),
    "unknown channel": (f"王五,13900000001,{VILLAGE},主任,1,sms|fax", "fax"),
    "no channel": (f"王五,13900000001,{VILLAGE},主任,1,", "channels"),
    "bad rank": (f"王五,13900000001,{VILLAGE},主任,first,sms", "rank"),
    "unknown region": ("王五,13900000001,650107999999,主任,1,sms", "unknown"),
    "bad region code": ("王五,13900000001,6501,主任,1,sms", "region_code"),
    "role too long": (f"王五,13900000001,{VILLAGE},{'长' * 51},1,sms", "role"),
}


@pytest.mark.parametrize("case", BAD_ROWS)
async def test_bad_row_is_422_naming_its_line_and_nothing_written(
    client: AsyncClient, regions: None, case: str
) -> None:
    row, words = BAD_ROWS[case]
    body = csv_body(HEADER, f"好人,13900000009,{VILLAGE},主任,1,sms", row)
    response = await _import(client, body)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert errors[0]["loc"] == ["line", 3]
    assert words in errors[0]["msg"]
    assert await _roster(client) == {}


async def test_duplicate_rows_and_wrong_header_are_refused(client: AsyncClient, regions: None) -> None:
    duplicate = csv_body(HEADER, f"甲,13900000001,{VILLAGE},主任,1,sms", f"乙,13900000001,{VILLAGE},主任,2,sms")
    response = await _import(client, duplicate)
    assert response.status_code == 422 and "twice" in response.json()["errors"][0]["msg"]
    header = await _import(client, csv_body("name,mobile,region_code,role,rank,channels"))
    assert header.status_code == 422 and header.json()["errors"][0]["loc"] == ["line", 1]


async def test_supervised_region_outside_is_refused(client: AsyncClient, regions: None) -> None:
    body = csv_body(HEADER + ",supervises", f"干部,13900000003,{TOWNSHIP},干部,1,sms,{OTHER_TOWNSHIP}")
    response = await _import(client, body)
    assert response.status_code == 422
    assert "not below" in response.json()["errors"][0]["msg"]


async def test_replace_deactivates_the_subtrees_missing_contacts(client: AsyncClient, regions: None) -> None:
    kept = await create_contact(client, VILLAGE, phone="13900000001")
    dropped = await create_contact(client, VILLAGE, phone="13900000002")
    elsewhere = await create_contact(client, OTHER_TOWNSHIP, phone="13900000004")
    body = csv_body(
        HEADER,
        f"张三,13900000001,{VILLAGE},村委会主任,1,sms|voice",
        f"新人,13900000005,{VILLAGE},网格员,3,sms",
    )
    result = (await _import(client, body, replace=TOWNSHIP)).json()
    assert result == {"created": 1, "updated": 0, "unchanged": 1, "deactivated": 1}
    roster = await _roster(client)
    assert set(roster) == {kept["phone"], elsewhere["phone"], "+8613900000005"}
    assert (await client.get(f"/api/v1/contacts/{dropped['id']}")).json()["active"] is False


async def test_import_reactivates_a_deactivated_contact(client: AsyncClient, regions: None) -> None:
    contact = await create_contact(client, VILLAGE, phone="13900000001")
    await client.delete(f"/api/v1/contacts/{contact['id']}")
    body = csv_body(HEADER, f"张三,13900000001,{VILLAGE},村委会主任,1,sms|voice")
    assert (await _import(client, body)).json()["updated"] == 1
    assert (await client.get(f"/api/v1/contacts/{contact['id']}")).json()["active"] is True


async def test_duty_officer_imports_only_inside_its_subtree(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    token = await create_key(client, "duty_officer", TOWNSHIP)
    body = csv_body(HEADER, f"甲,13900000001,{VILLAGE},主任,1,sms", f"乙,13900000002,{OTHER_TOWNSHIP},主任,1,sms")
    response = await anonymous.post("/api/v1/contacts/import", content=body, headers={**CSV, **bearer(token)})
    assert response.status_code == 403
    assert "line(s)" in response.json()["detail"]
    assert await _roster(client) == {}
    replace = await anonymous.post(
        "/api/v1/contacts/import",
        content=csv_body(HEADER),
        params={"replace": "650107"},
        headers={**CSV, **bearer(token)},
    )
    assert replace.status_code == 403


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"name,phone,region_code,role,rank,channels\r\xe7\x8e\x8b,13900000001,650107001001,a,1,sms\r", "CSV"),
        ("name,phone,region_code,role,rank,channels\n王\x00五,13900000001,650107001001,a,1,sms\n".encode(), "control"),
        (
            (
                "name,phone,region_code,role,rank,channels\n" + "长" * 200_000 + ",13900000001,650107001001,a,1,sms\n"
            ).encode(),
            "CSV",
        ),
    ],
    ids=["carriage returns only", "NUL byte", "huge field"],
)
async def test_unreadable_files_are_422_not_500(client: AsyncClient, regions: None, body: bytes, words: str) -> None:
    response = await _import(client, body)
    assert response.status_code == 422, response.text
    assert words in response.json()["errors"][0]["msg"]
    assert await _roster(client) == {}


async def test_unknown_replace_region_is_422(client: AsyncClient, regions: None) -> None:
    response = await _import(client, csv_body(HEADER), replace="659999")
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "replace"]


async def test_gzip_bomb_is_stopped_at_the_limit(client: AsyncClient, regions: None, migrated: str) -> None:
    import gzip

    from httpx import ASGITransport
    from httpx import AsyncClient as Client

    from app.config import Settings
    from app.main import create_app
    from tests.conftest import ADMIN_TOKEN

    app = create_app(Settings(database_url=migrated, admin_token=ADMIN_TOKEN, max_import_bytes=100_000))
    bomb = gzip.compress(b"name,phone,region_code,role,rank,channels\n" + b"x" * 50_000_000)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", **CSV, "Content-Encoding": "gzip"}
    async with Client(transport=ASGITransport(app=app), base_url="http://127.0.0.1", headers=headers) as http:
        response = await http.post("/api/v1/contacts/import", content=bomb)
    assert response.status_code == 413


async def test_a_roster_saved_by_excel_as_gbk_goes_in_as_saved(client: AsyncClient, regions: None) -> None:
    rows = [HEADER, f"阿依古丽·买买提,13900000011,{VILLAGE},村委会主任,1,sms|voice",
            f"王建国,13900000012,{VILLAGE},网格员,2,sms"]  # fmt: skip
    response = await _import(client, "\r\n".join(rows).encode("gbk"))
    assert response.status_code == 200, response.text
    names = {c["name"] for c in (await _roster(client)).values()}
    assert names == {"阿依古丽·买买提", "王建国"}
