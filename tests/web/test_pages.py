"""The console's pages without a browser: the warning form (search, preview, issue), the board and
what is done from it, the timeline, the report with its charts and CSV files."""

import re

import pytest
from httpx import AsyncClient

from app.pages import COLOURS
from app.web import board as board_pages
from app.web import service as web_service
from app.web.render import STATIC
from tests.conftest import ADMIN_TOKEN
from tests.factories import COUNTY, VILLAGE, calls, create_contact, create_key, issue, roster
from tests.web.pages import csrf_of, sign_in

FORM = {
    "hazard": "暴雨", "level": "orange", "title": "达坂城区暴雨橙色预警", "instruction": "转移低洼地带群众",
    "description": "", "expires": "", "area_text": "", "q": "",
}  # fmt: skip


async def _form(anonymous: AsyncClient) -> dict[str, str]:
    page = await anonymous.get("/console/warnings/new")
    assert page.status_code == 200
    key = re.search(r'name="request_key" value="([^"]+)"', page.text)
    assert key
    return {**FORM, "csrf": csrf_of(page), "request_key": key.group(1)}


async def test_a_warning_is_issued_only_after_its_preview(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    await roster(client, skip=("650107001002",))
    await sign_in(anonymous, await create_key(client, "duty_officer", COUNTY))
    form = await _form(anonymous)
    found = await anonymous.post("/console/warnings/new", data={**form, "action": "search", "q": "艾维尔沟"})
    assert found.status_code == 200 and 'value="650107001000"' in found.text and "艾维尔沟街道" in found.text
    fields = {**form, "area_codes": ["650107001000"]}
    first = await anonymous.post("/console/warnings/new", data={**fields, "action": "issue"})
    assert first.status_code == 200 and "请核对下方预览" in first.text  # nothing sent before the preview is seen
    assert (await client.get("/api/v1/warnings")).json()["items"] == []
    assert re.search(r"将呼叫 <strong[^>]*>5</strong> 人", first.text)  # 2 villages x 2, and the township's one
    assert "七一平峒社区居委会" in first.text  # the village with nobody on record
    digest = re.search(r'name="previewed" id="previewed" value="([0-9a-f]{16})"', first.text)
    assert digest
    changed = await anonymous.post(
        "/console/warnings/new", data={**fields, "level": "red", "action": "issue", "previewed": digest.group(1)}
    )
    assert changed.status_code == 200 and "请核对下方预览" in changed.text  # a preview of other inputs is no preview
    issued = await anonymous.post(
        "/console/warnings/new", data={**fields, "action": "issue", "previewed": digest.group(1)}
    )
    assert issued.status_code == 303
    warning = (await client.get("/api/v1/warnings")).json()["items"][0]
    assert issued.headers["location"] == f"/console/warnings/{warning['id']}?done=issued"
    assert warning["level"] == "orange" and warning["area_codes"] == ["650107001000"] and warning["mode"] == "actual"
    assert warning["calls"]["total"] == 5 and warning["created_by"] == "值班员"
    again = await anonymous.post(
        "/console/warnings/new", data={**fields, "action": "issue", "previewed": digest.group(1)}
    )
    assert again.headers["location"].startswith(f"/console/warnings/{warning['id']}")  # a second press, one warning
    assert len((await client.get("/api/v1/warnings")).json()["items"]) == 1


async def test_the_form_names_its_mistakes_in_chinese(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    await sign_in(anonymous, ADMIN_TOKEN)
    form = await _form(anonymous)
    empty = await anonymous.post("/console/warnings/new", data={**form, "title": "", "action": "preview"})
    assert empty.status_code == 422 and "请填写标题" in empty.text and "请至少选择一个区域" in empty.text
    unknown = await anonymous.post(
        "/console/warnings/new", data={**form, "area_text": "650107 659999", "action": "preview"}
    )
    assert unknown.status_code == 422 and "以下区域代码不存在或已撤销：659999000000" in unknown.text


async def test_an_exercise_is_issued_from_the_checkbox(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    await create_contact(client)
    await sign_in(anonymous, ADMIN_TOKEN)
    fields = {**(await _form(anonymous)), "area_text": "650107001001", "exercise": "1"}
    panel = await anonymous.get(
        "/console/warnings/preview", params={"level": "orange", "exercise": "1", "area_codes": ["650107001001"]}
    )
    assert "演练" in panel.text and "将呼叫" in panel.text
    digest = re.search(r'data-digest="([0-9a-f]{16})"', panel.text)
    assert digest
    issued = await anonymous.post(
        "/console/warnings/new", data={**fields, "action": "issue", "previewed": digest.group(1)}
    )
    assert issued.status_code == 303
    assert (await client.get("/api/v1/warnings")).json()["items"][0]["mode"] == "exercise"


async def test_the_board_shows_regions_people_and_takes_answers(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    phones = await roster(client, skip=("650107001002",))
    warning = await issue(client)
    await sign_in(anonymous, await create_key(client, "duty_officer", COUNTY, name="李值班"))
    board = await anonymous.get(f"/console/warnings/{warning['id']}")
    assert board.status_code == 200
    assert 'id="r-650107001001" class="cell waiting"' in board.text
    assert 'id="r-650107001002" class="cell uncovered"' in board.text
    assert f'href="tel:{phones[VILLAGE][0]}"' in board.text
    call = next(c for c in await calls(client, warning["id"]) if c["contact"]["phone"] == phones[VILLAGE][0])
    answered = await anonymous.post(
        f"/console/calls/{call['id']}/ack", data={"csrf": csrf_of(board), "method": "phone", "note": "电话已通知"}
    )
    assert answered.status_code == 303 and answered.headers["location"].endswith("?done=ack#people")
    after = next(c for c in await calls(client, warning["id"]) if c["id"] == call["id"])
    assert after["status"] == "acknowledged" and after["ack_method"] == "manual"
    board = await anonymous.get(f"/console/warnings/{warning['id']}?done=ack")
    assert "已登记应答" in board.text and 'id="r-650107001001" class="cell reached"' in board.text
    assert f'id="c-{call["id"]}"' not in board.text
    confirmed = await anonymous.post(
        f"/console/warnings/{warning['id']}/regions/650107001002/confirm",
        data={"csrf": csrf_of(board), "method": "in_person", "note": "乡干部上门通知"},
    )
    assert confirmed.status_code == 303
    region = (await client.get(f"/api/v1/warnings/{warning['id']}/regions", params={"state": "reached"})).json()
    assert {r["region_code"]: r["reached_by"] for r in region["items"]} == {
        VILLAGE: "manual",
        "650107001002": "confirmed",
    }
    timeline = await anonymous.get(f"/console/warnings/{warning['id']}/timeline", params={"type": "call.acknowledged"})
    assert timeline.status_code == 200 and "人工登记，电话，电话已通知" in timeline.text and "李值班" in timeline.text
    assert "生成呼叫" not in timeline.text.split("<tbody>")[1]
    by_region = await anonymous.get(f"/console/warnings/{warning['id']}/timeline", params={"region": "650107004000"})
    body = by_region.text.split("<tbody>")[1]
    assert "福利路社区居委会" in body and "工人新村社区居委会" not in body


async def test_the_calls_csv_downloads_with_the_session(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    await create_contact(client, name="王村长")
    warning = await issue(client)
    await sign_in(anonymous, await create_key(client, "auditor", COUNTY))
    response = await anonymous.get(f"/console/warnings/{warning['id']}/calls.csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.text.startswith("\ufeff联系人,电话") and "王村长" in response.text and "****" in response.text


async def test_the_report_page_draws_its_charts_and_serves_its_files(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    phones = await roster(client, skip=("650107001002",))
    warning = await issue(client)
    call = next(c for c in await calls(client, warning["id"]) if c["contact"]["phone"] == phones[VILLAGE][0])
    await client.post(f"/api/v1/calls/{call['id']}/ack", json={"method": "phone", "note": ""})
    await sign_in(anonymous, await create_key(client, "auditor", COUNTY))
    page = await anonymous.get("/console/reports")
    assert page.status_code == 200
    assert "<svg" in page.text and "应答用时分布" in page.text and "1分钟内" in page.text
    assert "艾维尔沟街道" in page.text  # a county is reported by township, each a bar and a row
    assert "七一平峒社区居委会" in page.text  # never reached
    assert page.text.count('<rect x="154"') == 2 * 8  # a track and a bar for each of the 8 townships
    csv = await anonymous.get("/console/reports/response.csv", params={"group_by": "township"})
    assert csv.status_code == 200 and csv.text.startswith("\ufeffregion_code,name,warnings")
    assert "650107001000,艾维尔沟街道" in csv.text
    unreached = await anonymous.get("/console/reports/unreached.csv")
    assert unreached.status_code == 200 and "650107001002" in unreached.text
    api = await client.get(
        "/api/v1/reports/response", params={"format": "csv", "region_code": COUNTY, "group_by": "township"}
    )
    assert csv.text == api.text  # the page's file is the API's file


async def test_a_report_outside_the_key_region_is_refused(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    await sign_in(anonymous, await create_key(client, "auditor", COUNTY))
    refused = await anonymous.get("/console/reports", params={"region_code": "441900000000"})
    assert refused.status_code == 403 and "<html" in refused.text
    reversed_period = await anonymous.get("/console/reports", params={"since": "2026-02-01", "until": "2026-01-01"})
    assert reversed_period.status_code == 422 and "开始日期不能晚于结束日期" in reversed_period.text


async def test_assets_are_served_here_and_nothing_is_fetched_from_elsewhere(anonymous: AsyncClient) -> None:
    css = await anonymous.get("/console/static/console.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert all(colour in css.text for colour in COLOURS.values())  # the acknowledgement page's level colours
    assert (await anonymous.get("/console/static/console.js")).headers["content-type"].startswith("text/javascript")
    for name in ("router.py", "session.py"):
        assert (await anonymous.get(f"/console/static/{name}")).status_code == 404
    templates = STATIC.parent / "templates"
    for path in [*STATIC.iterdir(), *templates.iterdir()]:
        text = path.read_text(encoding="utf-8").replace('xmlns="http://www.w3.org/2000/svg"', "")  # a name, not a fetch
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), f"{path.name} loads from elsewhere"


async def test_a_warning_is_updated_from_its_own_form(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    await roster(client)
    old = await issue(client, level="yellow", title="达坂城区大风黄色预警")
    await sign_in(anonymous, ADMIN_TOKEN)
    form = await anonymous.get(f"/console/warnings/{old['id']}/update")
    assert form.status_code == 200 and 'value="达坂城区大风黄色预警"' in form.text
    assert 'value="yellow" checked' in form.text and 'value="650107000000" checked' in form.text
    key = re.search(r'name="request_key" value="([^"]+)"', form.text)
    assert key
    fields = {**FORM, "csrf": csrf_of(form), "request_key": key.group(1), "hazard": "大风", "level": "orange",
              "title": "达坂城区大风橙色预警", "area_codes": ["650107000000"]}  # fmt: skip
    previewed = await anonymous.post(f"/console/warnings/{old['id']}/update", data={**fields, "action": "preview"})
    digest = re.search(r'name="previewed" id="previewed" value="([0-9a-f]{16})"', previewed.text)
    assert digest and "发布更新" in previewed.text
    updated = await anonymous.post(
        f"/console/warnings/{old['id']}/update", data={**fields, "action": "issue", "previewed": digest.group(1)}
    )
    assert updated.status_code == 303 and updated.headers["location"].endswith("?done=updated")
    superseded = (await client.get(f"/api/v1/warnings/{old['id']}")).json()
    assert superseded["status"] == "superseded"
    new = (await client.get(f"/api/v1/warnings/{superseded['superseded_by']}")).json()
    assert new["level"] == "orange" and new["supersedes"] == old["id"]
    board = await anonymous.get(f"/console/warnings/{old['id']}")
    assert "此预警已更新" in board.text and f"/console/warnings/{new['id']}" in board.text
    assert "结束预警" not in board.text


async def test_a_large_board_is_drawn_one_county_at_a_time(
    client: AsyncClient, anonymous: AsyncClient, regions: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web_service, "GRID_MAX", 10)  # 达坂城区 has 50 targeted regions in the fixture
    await roster(client)
    warning = await issue(client)
    await sign_in(anonymous, ADMIN_TOKEN)
    board = await anonymous.get(f"/console/warnings/{warning['id']}")
    assert "请选择县区查看" in board.text and 'href="?county=650107"' in board.text and 'id="r-' not in board.text
    assert "regions=0" in board.text  # the stream then sends the numbers only
    county = await anonymous.get(f"/console/warnings/{warning['id']}", params={"county": "650107"})
    assert 'id="r-650107001001" class="cell waiting"' in county.text and "返回全部县区" in county.text


async def test_the_timeline_pages_through_a_long_record(
    client: AsyncClient, anonymous: AsyncClient, regions: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(board_pages, "TIMELINE_PAGE", 3)
    await roster(client)
    warning = await issue(client)
    await sign_in(anonymous, ADMIN_TOKEN)
    first = await anonymous.get(f"/console/warnings/{warning['id']}/timeline")
    assert first.text.split("<tbody>")[1].count("<tr") == 3 and "发布预警" in first.text
    after = re.search(r'href="\?type=&amp;region=&amp;after=(\d+)"', first.text)
    assert after
    second = await anonymous.get(f"/console/warnings/{warning['id']}/timeline", params={"after": after.group(1)})
    rows = second.text.split("<tbody>")[1].split("</tbody>")[0]
    assert rows.count("<tr") == 3 and "生成呼叫" in rows and "发布预警" not in rows
