"""The dry run of a fan-out, POST /api/v1/warnings/preview: the same numbers issuing gives, and
nothing written; and the region search behind the area picker."""

from httpx import AsyncClient
from sqlalchemy import func, select

from app import db
from app.models import AuditEvent, Call, ChainHead, IdempotencyKey, Message, Warning, WarningRegion
from tests.factories import (
    COUNTY,
    OTHER_TOWNSHIP,
    TOWNSHIP,
    VILLAGE,
    bearer,
    create_contact,
    create_key,
    roster,
    warning_body,
)

WRITTEN = (Warning, WarningRegion, Call, Message, AuditEvent, ChainHead, IdempotencyKey)


async def row_counts() -> dict[str, int]:
    async with db.session_scope(read_only=True) as session:
        return {model.__tablename__: await session.scalar(select(func.count()).select_from(model)) or 0
                for model in WRITTEN}  # fmt: skip


async def test_the_preview_tells_what_issuing_does_and_writes_nothing(client: AsyncClient, regions: None) -> None:
    await roster(client, skip=("650107001002", "650107004001"))  # two villages with nobody on record
    body = warning_body(level="red")
    before = await row_counts()
    preview = await client.post("/api/v1/warnings/preview", json=body, headers={"Idempotency-Key": "not-used"})
    assert preview.status_code == 200, preview.text
    assert await row_counts() == before  # not a row, not an event, not a message
    issued = await client.post("/api/v1/warnings", json=body)
    assert issued.status_code == 201
    found, made = preview.json(), issued.json()
    assert found["calls"] == made["calls"]["total"] > 0
    assert found["targeted_regions"] == made["targeted_regions"]
    assert found["uncovered_area_codes"] == made["uncovered_area_codes"] == ["650107001002", "650107004001"]
    assert [region["name"] for region in found["uncovered_regions"]] == ["七一平峒社区居委会", "福利路社区居委会"]
    assert sum(found["targeted_by_level"].values()) == found["targeted_regions"]
    assert found["targeted_by_level"]["county"] == 1 and found["escalates_uncovered"] and found["sends"]


async def test_the_preview_follows_the_level_reach(client: AsyncClient, regions: None) -> None:
    await roster(client)
    red = (await client.post("/api/v1/warnings/preview", json=warning_body(level="red"))).json()
    blue = (await client.post("/api/v1/warnings/preview", json=warning_body(level="blue", mode="test"))).json()
    assert "county" not in blue["targeted_by_level"]  # blue reaches townships and villages only
    assert blue["targeted_regions"] == red["targeted_regions"] - 1 and blue["calls"] == red["calls"] - 1
    assert not blue["sends"] and not blue["escalates_uncovered"]


async def test_a_person_on_several_regions_is_one_call(client: AsyncClient, regions: None) -> None:
    await create_contact(client, VILLAGE, phone="+8613900000001")
    await create_contact(client, "650107001003", phone="+8613900000001")
    preview = (await client.post("/api/v1/warnings/preview", json=warning_body(area_codes=[TOWNSHIP]))).json()
    assert preview["calls"] == 1


async def test_the_preview_checks_what_issuing_checks(client: AsyncClient, regions: None) -> None:
    unknown = await client.post("/api/v1/warnings/preview", json=warning_body(area_codes=["650107999999"]))
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["loc"] == ["body", "area_codes", 0]
    township = await create_key(client, "duty_officer", TOWNSHIP)
    outside = await client.post(
        "/api/v1/warnings/preview", json=warning_body(area_codes=[OTHER_TOWNSHIP]), headers=bearer(township)
    )
    assert outside.status_code == 403
    auditor = await create_key(client, "auditor", COUNTY)
    assert (
        await client.post("/api/v1/warnings/preview", json=warning_body(), headers=bearer(auditor))
    ).status_code == 403
    past = await client.post("/api/v1/warnings/preview", json=warning_body(expires="2020-01-01T00:00:00+08:00"))
    assert past.status_code == 422
    assert (await row_counts())["warnings"] == 0


async def test_regions_are_found_by_name_or_code_inside_the_key_region(client: AsyncClient, regions: None) -> None:
    by_name = (await client.get("/api/v1/regions", params={"q": "同心路"})).json()
    assert [r["name"] for r in by_name["items"]] == ["同心路东社区居委会", "同心路西社区居委会", "同心路南社区居委会"]
    by_code = (await client.get("/api/v1/regions", params={"q": "650107001"})).json()["items"]
    assert [r["code"] for r in by_code] == ["650107001000", "650107001001", "650107001002", "650107001003"]
    paged = (await client.get("/api/v1/regions", params={"q": "650107001", "limit": 3})).json()
    assert len(paged["items"]) == 3 and paged["next_cursor"] == "650107001002"
    rest = (await client.get("/api/v1/regions", params={"q": "650107001", "cursor": paged["next_cursor"]})).json()
    assert [r["code"] for r in rest["items"]] == ["650107001003"] and rest["next_cursor"] is None
    wildcard = (await client.get("/api/v1/regions", params={"q": "%"})).json()["items"]
    assert wildcard == []  # LIKE's wildcards are matched literally
    township = await create_key(client, "duty_officer", TOWNSHIP)
    scoped = (await client.get("/api/v1/regions", params={"q": "社区"}, headers=bearer(township))).json()["items"]
    assert scoped and all(r["code"].startswith("650107001") for r in scoped)
    assert (await client.get("/api/v1/regions", params={"q": ""})).status_code == 422
