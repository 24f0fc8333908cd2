"""Importing the region tree: whole-file checks, upserts, paths, and every kind of bad file."""

import gzip

import pytest
from httpx import AsyncClient

from tests.conftest import FIXTURES, requires_postgres
from tests.factories import CSV, DONGGUAN, TOWNSHIP, VILLAGE, csv_body, times_analyzed

HEADER = "code,name,level,parent_code"
BASE = (HEADER, "650000,新疆维吾尔自治区,province,", "650100,乌鲁木齐市,prefecture,650000")


async def _import(client: AsyncClient, body: bytes, **headers: str):
    return await client.post("/api/v1/regions/import", content=body, headers={**CSV, **headers})


async def _count(client: AsyncClient, code: str) -> int:
    response = await client.get(f"/api/v1/regions/{code}/children", params={"limit": 1000})
    return len(response.json()["items"]) if response.status_code == 200 else -1


async def test_import_counts_created_then_updated(client: AsyncClient) -> None:
    body = (FIXTURES / "regions.csv").read_bytes()
    first = await _import(client, body)
    assert first.status_code == 200
    assert first.json() == {"created": 60, "updated": 0}
    again = await _import(client, body)
    assert again.json() == {"created": 0, "updated": 0}  # the same rows again change nothing
    renamed = body.decode().replace("达坂城镇", "达坂城镇（新）").encode()
    assert (await _import(client, renamed)).json() == {"created": 0, "updated": 1}
    events = (await client.get("/api/v1/audit/events", params={"type": "regions.imported"})).json()["items"]
    assert [event["data"]["updated"] for event in events] == [0, 0, 1]


@requires_postgres
async def test_an_import_leaves_statistics_for_the_planner(client: AsyncClient) -> None:
    """A warning's expansion joins the roster to the regions by path: planned for an empty regions
    table, it sorted each slice's million candidate rows on disk."""
    before = await times_analyzed("regions")
    assert (await _import(client, (FIXTURES / "regions.csv").read_bytes())).status_code == 200
    assert await times_analyzed("regions") == before + 1


async def test_region_has_its_path_from_the_root(client: AsyncClient, regions: None) -> None:
    response = await client.get(f"/api/v1/regions/{VILLAGE}")
    assert response.status_code == 200
    region = response.json()
    assert region["level"] == "village"
    assert region["parent_code"] == TOWNSHIP
    assert [step["level"] for step in region["path"]] == [
        "province",
        "prefecture",
        "county",
        "township",
        "village",
    ]
    assert region["path"][0] == {"code": "650000000000", "name": "新疆维吾尔自治区", "level": "province"}
    assert region["path"][-1]["code"] == VILLAGE


async def test_six_digit_codes_are_accepted_and_stored_as_twelve(client: AsyncClient) -> None:
    assert (await _import(client, csv_body(*BASE, "650107,达坂城区,county,650100"))).status_code == 200
    region = (await client.get("/api/v1/regions/650107")).json()
    assert region["code"] == "650107000000"
    assert region["parent_code"] == "650100000000"


async def test_skipped_levels_follow_parent_code(client: AsyncClient, regions: None) -> None:
    children = (await client.get(f"/api/v1/regions/{DONGGUAN}/children")).json()["items"]
    assert children and {child["level"] for child in children} == {"township"}
    township = (await client.get(f"/api/v1/regions/{children[0]['code']}")).json()
    assert [step["level"] for step in township["path"]] == ["province", "prefecture", "township"]


async def test_children_are_paged(client: AsyncClient, regions: None) -> None:
    first = (await client.get(f"/api/v1/regions/{TOWNSHIP}/children", params={"limit": 2})).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = (await client.get(f"/api/v1/regions/{TOWNSHIP}/children", params={"cursor": first["next_cursor"]})).json()
    codes = [r["code"] for r in first["items"] + rest["items"]]
    assert codes == sorted(set(codes))
    assert rest["next_cursor"] is None


async def test_gzip_upload_is_accepted(client: AsyncClient) -> None:
    body = gzip.compress((FIXTURES / "regions.csv").read_bytes())
    response = await _import(client, body, **{"Content-Encoding": "gzip"})
    assert response.json() == {"created": 60, "updated": 0}


async def test_utf8_bom_and_crlf_are_accepted(client: AsyncClient) -> None:
    body = "\ufeff" + "\r\n".join(BASE) + "\r\n"
    assert (await _import(client, body.encode())).json() == {"created": 2, "updated": 0}


async def test_abolished_column_marks_and_keeps(client: AsyncClient) -> None:
    await _import(
        client,
        csv_body(HEADER + ",abolished", "650000,新疆,province,,", "650100,乌鲁木齐,prefecture,650000,true"),
    )
    assert (await client.get("/api/v1/regions/650100")).json()["abolished"] is True
    await _import(client, csv_body(*BASE))  # without the column: the flag stays
    assert (await client.get("/api/v1/regions/650100")).json()["abolished"] is True
    await _import(client, csv_body(HEADER + ",abolished", "650100,乌鲁木齐市,prefecture,650000,false"))
    assert (await client.get("/api/v1/regions/650100")).json()["abolished"] is False


async def test_moving_a_region_moves_its_subtree(client: AsyncClient, regions: None) -> None:
    # Re-parent 艾维尔沟街道 under 乌拉泊街道's county sibling: make it a child of 东莞 instead.
    response = await _import(client, csv_body(HEADER, f"{TOWNSHIP},艾维尔沟街道,township,{DONGGUAN}"))
    assert response.json() == {"created": 0, "updated": 1}
    village = (await client.get(f"/api/v1/regions/{VILLAGE}")).json()
    assert [step["code"] for step in village["path"]] == ["440000000000", DONGGUAN, TOWNSHIP, VILLAGE]


BAD_FILES = {
    "wrong header": (("code,名称,level,parent_code", "650000,新疆,province,"), 1, "header"),
    "missing column": (("code,name,level", "650000,新疆,province"), 1, "header"),
    "unknown parent": ((*BASE, "650199,某区,county,659999"), 4, "659999000000"),
    "duplicate code": ((*BASE, "650100,乌鲁木齐,prefecture,650000"), 4, "twice"),
    "bad level": ((*BASE, "650107,达坂城区,district,650100"), 4, "level"),
    "county under a township": (
        (
            *BASE,
            "650107,达坂城区,county,650100",
            "650107001000,街道,township,650107",
            "650108,某区,county,650107001000",
        ),
        6,
        "cannot sit under",
    ),
    "cycle": (
        (
            HEADER,
            "650000,新疆,province,",
            "650107001000,甲,township,650107001001",
            "650107001001,乙,village,650107001000",
        ),
        3,
        "cycle",
    ),
    "self parent": ((HEADER, "650000,新疆,province,650000"), 2, "itself"),
    "bad code": ((*BASE, "65010,短,county,650100"), 4, "code"),
    "province with a parent missing": ((HEADER, "650100,乌鲁木齐,prefecture,"), 2, "parent_code"),
    "wrong field count": ((*BASE, "650107,达坂城区,county"), 4, "fields"),
    "empty name": ((*BASE, "650107,,county,650100"), 4, "name"),
}


@pytest.mark.parametrize("case", BAD_FILES)
async def test_bad_file_is_422_naming_the_line_and_writes_nothing(client: AsyncClient, case: str) -> None:
    lines, bad_line, words = BAD_FILES[case]
    response = await _import(client, csv_body(*lines))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert ["line", bad_line] in [error["loc"] for error in problem["errors"]]
    assert any(words in error["msg"] for error in problem["errors"]), problem
    assert "Nothing was imported" in problem["detail"]
    assert (await client.get("/api/v1/regions/650000")).status_code == 404


async def test_every_bad_line_is_listed(client: AsyncClient) -> None:
    body = csv_body(*BASE, "650107,甲,county,659999", "650108,乙,town,650100", "650109,丙,county,650100")
    problem = (await _import(client, body)).json()
    assert sorted(error["loc"][1] for error in problem["errors"]) == [4, 5]


async def test_a_gbk_file_as_excel_saves_it_is_read_as_such(client: AsyncClient) -> None:
    body = "\r\n".join([*BASE, "650107,达坂城区,county,650100"]).encode("gbk")
    response = await _import(client, body)
    assert response.status_code == 200, response.text
    assert (await client.get("/api/v1/regions/650107")).json()["name"] == "达坂城区"
    # A mistake in such a file: the answer says how the file was read.
    wrong = "\r\n".join([*BASE, "650108,乌鲁木齐县,county,659999"]).encode("gb18030")
    problem = (await _import(client, wrong)).json()
    assert "GB18030" in problem["detail"] and problem["errors"][0]["loc"] == ["line", 4]


async def test_a_file_neither_utf8_nor_gbk_is_refused_line_by_line(client: AsyncClient) -> None:
    body = "\n".join(BASE).encode() + b"\n650107,\xff\xfe\xff,county,650100\n"
    response = await _import(client, body)
    assert response.status_code == 422
    assert "UTF-8" in response.json()["errors"][0]["msg"] and response.json()["errors"][0]["loc"] == ["line", 4]
    # A UTF-8 file with one broken line stays UTF-8: the line is named, nothing is read as GBK.
    broken = "\n".join([*BASE, "650107,达坂城区,county,650100"]).encode() + b"\n650108,\xb4\xef,county,650100\n"
    problem = (await _import(client, broken)).json()
    assert problem["errors"][0]["loc"] == ["line", 5] and "GB18030" not in problem["detail"]


async def test_level_change_that_breaks_existing_children_is_refused(client: AsyncClient, regions: None) -> None:
    response = await _import(client, csv_body(HEADER, f"{TOWNSHIP},艾维尔沟街道,village,650107000000"))
    assert response.status_code == 422
    assert "its child" in response.json()["errors"][0]["msg"]
    assert (await client.get(f"/api/v1/regions/{TOWNSHIP}")).json()["level"] == "township"


async def test_cycle_through_existing_regions_is_refused(client: AsyncClient, regions: None) -> None:
    # The county would hang under one of its own villages.
    response = await _import(client, csv_body(HEADER, f"650107000000,达坂城区,county,{VILLAGE}"))
    assert response.status_code == 422
    assert (await client.get(f"/api/v1/regions/{VILLAGE}")).json()["path"][2]["code"] == "650107000000"


async def test_empty_file_is_refused(client: AsyncClient) -> None:
    response = await _import(client, b"")
    assert response.status_code == 422


async def test_unknown_region_is_404_and_bad_code_422(client: AsyncClient) -> None:
    assert (await client.get("/api/v1/regions/650107")).status_code == 404
    response = await client.get("/api/v1/regions/abc")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_import_needs_admin(client: AsyncClient, anonymous: AsyncClient, regions: None) -> None:
    from tests.factories import bearer, create_key

    token = await create_key(client, "duty_officer", "650107")
    response = await anonymous.post("/api/v1/regions/import", content=csv_body(*BASE), headers={**CSV, **bearer(token)})
    assert response.status_code == 403
    assert (await anonymous.post("/api/v1/regions/import", content=csv_body(*BASE), headers=CSV)).status_code == 401


async def test_import_is_an_audit_event(client: AsyncClient, regions: None) -> None:
    from sqlalchemy import select

    from app.db import session_scope
    from app.models.audit import AuditEvent

    async with session_scope() as session:
        events = list(await session.scalars(select(AuditEvent).where(AuditEvent.type == "regions.imported")))
    assert len(events) == 1
    assert events[0].data["created"] == 60 and len(events[0].data["sha256"]) == 64
    assert events[0].actor == "admin"


async def test_a_utf8_file_whose_first_chinese_line_is_broken_stays_utf8(client: AsyncClient) -> None:
    # \xe5\xb8 is 帝 (UTF-8) cut short: alone it also reads as GB18030, but the lines after are UTF-8.
    body = (
        HEADER.encode()
        + b"\n650000,\xe5\xb8,province,\n"
        + "\n".join((*BASE[2:], "650107,达坂城区,county,650100")).encode()
    )
    problem = (await _import(client, body)).json()
    assert [error["loc"] for error in problem["errors"]] == [["line", 2]] and "GB18030" not in problem["detail"]
