"""The response report: its figures by their definitions, periods and modes kept apart, CSV, paging,
the regions never reached, a warning's export, and bad input."""

import csv
import io
import statistics
from datetime import datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient

from app.call import service as call_service
from app.db import session_scope
from app.models.call import Call
from app.report import db as report_db
from tests.factories import (
    COUNTY,
    OTHER_TOWNSHIP,
    VILLAGE,
    bearer,
    calls,
    create_contact,
    create_key,
    issue,
    outbox,
    roster,
    send_all,
    token_of,
    warning_body,
)

TOWNSHIP = "650107100000"  # 达坂城镇: five villages, two people each, and one for the township
ACK_SECONDS = [20, 40, 60, 90, 120, 240, 5400]  # the last one after a red warning's deadline


async def answer(call_ids: list[str], seconds: list[int]) -> None:
    """Acknowledge calls by link, each the given seconds after it was made."""
    async with session_scope() as session:
        for call_id, after in zip(call_ids, seconds, strict=True):
            call = await session.get(Call, call_id)
            assert call is not None
            now = call.created_at + timedelta(seconds=after)
            await call_service.acknowledge(session, call, method="link", actor="村级责任人", now=now)


async def report(client: AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/reports/response", params={"region_code": COUNTY, **params})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def row_of(rows: list[dict[str, Any]], code: str) -> dict[str, Any]:
    return next(row for row in rows if row["region_code"] == code)


async def a_warning_answered(client: AsyncClient, **fields: Any) -> dict[str, Any]:
    warning = await issue(client, **fields)
    alerts = [c for c in await calls(client, warning["id"], kind="alert") if c["contact"]["region_code"] != COUNTY]
    # The township's own contact first (so the township is reached), then the villages' in id order.
    ordered = sorted(alerts, key=lambda c: (c["contact"]["region_code"] != TOWNSHIP, c["id"]))
    in_township = [c["id"] for c in ordered if c["contact"]["region_code"].startswith(TOWNSHIP[:9])]
    await answer(in_township[: len(ACK_SECONDS)], ACK_SECONDS)
    return warning


async def report_back(client: AsyncClient, warning: dict[str, Any]) -> None:
    """A 首报 from someone in a village of another township (which acknowledges their call too)."""
    village_call = next(c for c in await calls(client, warning["id"]) if c["contact"]["region_code"] == VILLAGE)
    token = token_of(next(m for m in await outbox(client, warning["id"]) if m["call_id"] == village_call["id"]))
    sent = await client.post(f"/ack/{token}/feedback", json={"stage": "initial", "actions": "已到岗", "evacuated": 3})
    assert sent.status_code == 201, sent.text


async def test_figures_follow_their_definitions(client: AsyncClient, regions: None) -> None:
    await roster(client)
    warning = await a_warning_answered(client)
    await send_all()
    await report_back(client, warning)
    deadline = datetime.fromisoformat((await calls(client, warning["id"]))[0]["deadline_at"])
    created = datetime.fromisoformat(warning["created_at"])

    rows = await report(client, group_by="township")
    assert [row["region_code"] for row in rows] == sorted(row["region_code"] for row in rows)
    assert len(rows) == 8  # every township of 达坂城区; the county's own contact is in none of them
    township = row_of(rows, TOWNSHIP)
    in_time = sum(created + timedelta(seconds=s) <= deadline for s in ACK_SECONDS)
    assert in_time == len(ACK_SECONDS) - 1
    assert township["name"] == "达坂城镇"
    assert township["warnings"] == 1
    assert township["calls"] == 11 and township["acknowledged"] == 7 and township["unanswered"] == 4
    assert township["ack_rate"] == round(7 / 11, 4)
    assert township["within_deadline_rate"] == round(in_time / 11, 4)
    assert township["median_ack_s"] == statistics.median(ACK_SECONDS)
    assert township["p90_ack_s"] == round(statistics.quantiles(ACK_SECONDS, n=10, method="inclusive")[8], 3)
    assert township["targeted_regions"] == 6  # the township and its five villages
    assert 1 <= township["reached_regions"] <= 6
    quiet = row_of(rows, OTHER_TOWNSHIP)
    assert quiet["acknowledged"] == 0 and quiet["median_ack_s"] is None and quiet["ack_rate"] == 0
    assert quiet["feedback_rate"] is None  # of acknowledged calls: none

    (county,) = await report(client, group_by="county")
    assert county["region_code"] == COUNTY and county["name"] == "达坂城区"
    assert county["calls"] == sum(row["calls"] for row in rows) + 1  # and the county's own contact
    assert county["acknowledged"] == sum(row["acknowledged"] for row in rows) == 8  # feedback acknowledged one
    assert county["feedback_rate"] == round(1 / 8, 4)
    assert county["targeted_regions"] == sum(row["targeted_regions"] for row in rows) + 1


async def test_withdrawn_and_superseded_warnings_count_as_the_chain_in_force(
    client: AsyncClient, regions: None
) -> None:
    await roster(client)
    withdrawn = await a_warning_answered(client, title="误发")
    await client.post(f"/api/v1/warnings/{withdrawn['id']}/cancel", json={"reason": "误发", "kind": "withdrawn"})
    original = await a_warning_answered(client, title="原预警")
    update = await client.post(f"/api/v1/warnings/{original['id']}/update", json=warning_body(title="更新"))
    assert update.status_code == 201, update.text
    updated = update.json()
    in_township = [c["id"] for c in await calls(client, updated["id"], kind="alert")
                   if c["contact"]["region_code"].startswith(TOWNSHIP[:9])]  # fmt: skip
    await answer(in_township[:3], [30, 60, 90])
    lifted = await a_warning_answered(client, title="已解除")
    await client.post(f"/api/v1/warnings/{lifted['id']}/cancel", json={"reason": "雨停", "kind": "lifted"})

    (county,) = await report(client, group_by="county")
    # The update in force and the lifted one: the withdrawn warning and the superseded one are not there.
    assert county["warnings"] == 2
    update_calls = len(await calls(client, updated["id"], kind="alert"))
    lifted_calls = len(await calls(client, lifted["id"], kind="alert"))
    assert county["calls"] == update_calls + lifted_calls
    assert county["acknowledged"] == 3 + len(ACK_SECONDS)
    assert county["unanswered"] == county["calls"] - county["acknowledged"]  # alert calls never acknowledged
    listed = (await client.get("/api/v1/reports/unreached", params={"region_code": COUNTY, "limit": 1000})).json()
    assert {row["warning_id"] for row in listed["items"]} <= {updated["id"], lifted["id"]}


async def test_modes_are_kept_apart_and_the_period_counts_by_issue_time(client: AsyncClient, regions: None) -> None:
    await roster(client)
    await a_warning_answered(client)
    await a_warning_answered(client, mode="exercise")
    await a_warning_answered(client, mode="exercise", area_codes=[TOWNSHIP])
    await issue(client, mode="test")
    actual = row_of(await report(client, group_by="county"), COUNTY)
    exercise = row_of(await report(client, group_by="county", mode="exercise"), COUNTY)
    assert actual["warnings"] == 1 and exercise["warnings"] == 2
    assert exercise["acknowledged"] == 2 * len(ACK_SECONDS)
    refused = await client.get("/api/v1/reports/response", params={"region_code": COUNTY, "mode": "test"})
    assert refused.status_code == 422 and "test" in refused.json()["detail"]
    before = await report(client, until="2020-01-01T00:00:00+08:00")
    assert before == []


async def test_csv_is_the_same_rows_for_excel(client: AsyncClient, regions: None) -> None:
    await roster(client)
    await a_warning_answered(client)
    rows = await report(client, group_by="township")
    response = await client.get(
        "/api/v1/reports/response", params={"region_code": COUNTY, "group_by": "township", "format": "csv"}
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith("\ufeff".encode())
    table = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert list(table[0]) == list(rows[0])
    assert [r["region_code"] for r in table] == [r["region_code"] for r in rows]
    assert row_of(table, TOWNSHIP)["name"] == "达坂城镇"
    assert row_of(table, TOWNSHIP)["median_ack_s"] == str(row_of(rows, TOWNSHIP)["median_ack_s"])


async def test_pages_cover_every_row_once(client: AsyncClient, regions: None) -> None:
    await roster(client)
    await a_warning_answered(client)
    everything = await report(client, group_by="township")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"region_code": COUNTY, "group_by": "township", "limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/v1/reports/response", params=params)).json()
        seen += [row["region_code"] for row in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == [row["region_code"] for row in everything]


async def test_regions_never_reached_are_listed(client: AsyncClient, regions: None) -> None:
    await roster(client, skip=(VILLAGE,))
    warning = await a_warning_answered(client)
    listed = (await client.get("/api/v1/reports/unreached", params={"region_code": COUNTY, "limit": 1000})).json()
    states = {row["region_code"]: row["state"] for row in listed["items"]}
    assert states[VILLAGE] == "uncovered" and TOWNSHIP not in states
    assert all(row["warning_id"] == warning["id"] for row in listed["items"])
    confirmed = await client.post(f"/api/v1/warnings/{warning['id']}/regions/{VILLAGE}/confirm", json={"note": "电话"})
    assert confirmed.status_code == 200, confirmed.text
    again = (await client.get("/api/v1/reports/unreached", params={"region_code": COUNTY, "limit": 1000})).json()
    assert VILLAGE not in {row["region_code"] for row in again["items"]}
    assert len(again["items"]) == len(listed["items"]) - 1
    as_csv = await client.get("/api/v1/reports/unreached", params={"region_code": COUNTY, "format": "csv"})
    assert as_csv.text.count("\r\n") == len(again["items"]) + 1


async def test_a_warning_exports_its_calls_for_the_file(client: AsyncClient, regions: None) -> None:
    await roster(client)
    warning = await a_warning_answered(client)
    await send_all()
    await report_back(client, warning)
    auditor = await create_key(client, "auditor", COUNTY, name="督查员")
    response = await client.get(f"/api/v1/warnings/{warning['id']}/export.csv", headers=bearer(auditor))
    assert response.status_code == 200 and response.content.startswith("\ufeff".encode())
    table = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(table) == len(await calls(client, warning["id"]))
    assert all("****" in row["电话"] for row in table)  # auditors see numbers masked
    answered = [row for row in table if row["应答方式"]]
    assert len(answered) == 8 and {row["应答方式"] for row in answered} == {"链接"}
    assert sum(row["是否超时"] == "是" for row in table) == 1
    with_feedback = [row for row in table if row["反馈"]]
    assert len(with_feedback) == 1 and "首报" in with_feedback[0]["反馈"] and "已转移3人" in with_feedback[0]["反馈"]
    waiting = [row["各次呼叫（北京时间）"] for row in table if row["状态"] == "已通知"]
    assert waiting and all(
        "第1次" in sent and "短信·console 已发出" in sent and "语音·console 已发出" in sent for sent in waiting
    )


async def test_bad_requests_are_refused_plainly(client: AsyncClient, regions: None) -> None:
    officer = await create_key(client, "duty_officer", OTHER_TOWNSHIP)
    cases: list[tuple[dict[str, Any], dict[str, str] | None, int]] = [
        ({"region_code": COUNTY, "since": "2026-05-01T00:00:00Z", "until": "2026-04-01T00:00:00Z"}, None, 422),
        ({"region_code": COUNTY, "since": "1900-01-01T00:00:00Z"}, None, 422),
        ({"region_code": COUNTY, "since": "2026-05-01T00:00:00"}, None, 422),
        ({"region_code": COUNTY, "since": "yesterday"}, None, 422),
        ({"region_code": "659999000000"}, None, 404),
        ({"region_code": "abc"}, None, 422),
        ({"region_code": VILLAGE, "group_by": "township"}, None, 422),
        ({"region_code": COUNTY, "group_by": "village"}, None, 422),
        ({"region_code": COUNTY, "cursor": "not-a-cursor"}, None, 422),
        ({"region_code": COUNTY}, bearer(officer), 403),
        ({"region_code": COUNTY, "format": "xlsx"}, None, 422),
    ]
    for params, headers, expected in cases:
        response = await client.get("/api/v1/reports/response", params=params, headers=headers)
        assert response.status_code == expected, (params, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"]
    unreached = await client.get("/api/v1/reports/unreached", params={"region_code": COUNTY, "cursor": "x:y"})
    assert unreached.status_code == 422


async def test_halves_aggregated_side_by_side_give_the_same_rows(
    client: AsyncClient, regions: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    await roster(client)
    await a_warning_answered(client)
    whole = await report(client, group_by="township")
    monkeypatch.setattr(report_db, "SPLIT_ABOVE", 2)
    assert await report(client, group_by="township") == whole
    params = {"region_code": COUNTY, "group_by": "township"}
    first = (await client.get("/api/v1/reports/response", params={**params, "limit": 3})).json()
    rest = await client.get("/api/v1/reports/response", params={**params, "cursor": first["next_cursor"]})
    rest = rest.json()
    assert first["items"] + rest["items"] == whole


async def test_exports_keep_formulas_and_phones_as_text(client: AsyncClient, regions: None) -> None:
    hostile = await create_contact(client, VILLAGE, name='=HYPERLINK("http://x")', role="@SUM(A1)")
    warning = await issue(client, area_codes=[VILLAGE])
    response = await client.get(f"/api/v1/warnings/{warning['id']}/export.csv")
    (row,) = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert row["联系人"] == '\'=HYPERLINK("http://x")' and row["职务"] == "'@SUM(A1)"
    assert row["电话"] == "'" + hostile["phone"]  # +86… stays text, not a number
