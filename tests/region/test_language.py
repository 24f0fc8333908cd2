"""A region's default language: the optional `language` column of the regions import, on both engines."""

import pytest
from httpx import AsyncClient

from tests.factories import CSV, csv_body

HEADER = "code,name,level,parent_code"
PROVINCE, PREFECTURE = "650000000000", "650100000000"

pytestmark = pytest.mark.usefixtures("catalogs")


async def _import(client: AsyncClient, *lines: str):
    return await client.post("/api/v1/regions/import", content=csv_body(*lines), headers=CSV)


async def _language(client: AsyncClient, code: str) -> str | None:
    response = await client.get(f"/api/v1/regions/{code}")
    assert response.status_code == 200, response.text
    return response.json()["language"]


async def test_language_column_sets_a_default_that_a_file_without_it_keeps(client: AsyncClient) -> None:
    created = await _import(
        client, HEADER + ",language", "650000,新疆维吾尔自治区,province,,UG", "650100,乌鲁木齐市,prefecture,650000,"
    )
    assert created.json() == {"created": 2, "updated": 0}
    assert await _language(client, PROVINCE) == "ug"  # stored lower case
    assert await _language(client, PREFECTURE) is None  # an empty cell: no default (Chinese)
    kept = await _import(client, HEADER, "650000,新疆维吾尔自治区,province,", "650100,乌鲁木齐市,prefecture,650000")
    assert kept.json() == {"created": 0, "updated": 0}
    assert await _language(client, PROVINCE) == "ug"


async def test_a_changed_language_updates_the_region_and_an_empty_cell_clears_it(client: AsyncClient) -> None:
    await _import(client, HEADER + ",language", "650000,新疆维吾尔自治区,province,,ug")
    changed = await _import(client, HEADER + ",language", "650000,新疆维吾尔自治区,province,,kk")
    assert changed.json() == {"created": 0, "updated": 1}
    assert await _language(client, PROVINCE) == "kk"
    same = await _import(client, HEADER + ",language", "650000,新疆维吾尔自治区,province,,kk")
    assert same.json() == {"created": 0, "updated": 0}
    cleared = await _import(client, HEADER + ",language", "650000,新疆维吾尔自治区,province,,")
    assert cleared.json() == {"created": 0, "updated": 1}
    assert await _language(client, PROVINCE) is None


async def test_language_and_abolished_columns_are_kept_or_set_each_on_its_own(client: AsyncClient) -> None:
    await _import(
        client,
        HEADER + ",abolished,language",
        "650000,新疆维吾尔自治区,province,,,ug",
        "650100,乌鲁木齐市,prefecture,650000,true,kk",
    )
    await _import(client, HEADER + ",language", "650100,乌鲁木齐市,prefecture,650000,ug")
    prefecture = (await client.get(f"/api/v1/regions/{PREFECTURE}")).json()
    assert (prefecture["abolished"], prefecture["language"]) == (True, "ug")
    await _import(client, HEADER + ",abolished", "650100,乌鲁木齐市,prefecture,650000,false")
    prefecture = (await client.get(f"/api/v1/regions/{PREFECTURE}")).json()
    assert (prefecture["abolished"], prefecture["language"]) == (False, "ug")


async def test_an_unknown_language_is_a_numbered_problem_and_nothing_is_imported(
    client: AsyncClient, catalogs: tuple[str, ...]
) -> None:
    await _import(client, HEADER + ",language", "650000,新疆维吾尔自治区,province,,ug")
    response = await _import(
        client,
        HEADER + ",language",
        "650000,新疆维吾尔自治区,province,,kk",
        "650100,乌鲁木齐市,prefecture,650000,uyghur",
        "650107,达坂城区,county,650100,ug-CN",
    )
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [error["loc"] for error in errors] == [["line", 3], ["line", 4]]
    assert "uyghur" in errors[0]["msg"] and ", ".join(catalogs) in errors[0]["msg"]
    assert await _language(client, PROVINCE) == "ug"
    assert (await client.get(f"/api/v1/regions/{PREFECTURE}")).status_code == 404


async def test_the_regions_lists_show_each_default(client: AsyncClient) -> None:
    await _import(
        client, HEADER + ",language", "650000,新疆维吾尔自治区,province,,", "650100,乌鲁木齐市,prefecture,650000,kk"
    )
    children = (await client.get(f"/api/v1/regions/{PROVINCE}/children")).json()["items"]
    assert [(child["code"], child["language"]) for child in children] == [(PREFECTURE, "kk")]
