"""The whole chain through the console in a real browser: sign in, issue a warning through the form
(area picker, preview), a village contact presses 收到 on a phone-sized screen without scripts, the
board turns that village green without a reload, a manual acknowledgement, a region confirmed,
the timeline, ending the warning; and an auditor's report with its CSV download.

A real server on loopback (its own SQLite database, the scheduler on, the console provider) and
Debian's Chromium driven by Playwright. Screenshots of every page go to tests/artifacts/. Skipped
where Chromium is missing, unless JIAOYING_REQUIRE_BROWSER is set.
"""

import asyncio
import csv
import io
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import FIXTURES, POSTGRES_URL, ROOT, alembic_config

CHROMIUM = os.environ.get("JIAOYING_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and os.environ.get("JIAOYING_REQUIRE_BROWSER"):
    raise RuntimeError("JIAOYING_REQUIRE_BROWSER is set but no Chromium was found (apt-get install chromium)")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
ADMIN = "console-admin-token"
WEBHOOK_SECRET = "console-webhook-secret"  # replies and key presses, signed as a gateway signs them
ARTIFACTS = ROOT / "tests" / "artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip
OFFICE: dict[str, Any] = {"locale": "zh-CN", "timezone_id": "Asia/Shanghai"}  # a browser as set up in an office
UNCOVERED = "650107001002"  # 七一平峒社区居委会: nobody on record
ANSWERS_BY_LINK = "650107001001"  # 工人新村社区居委会
ANSWERED_BY_PHONE = "650107001003"  # 新街社区居委会


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _own_database(folder: Path) -> Iterator[str]:
    """A migrated database of the server's own: a SQLite file, or on a PostgreSQL run
    (JIAOYING_TEST_DATABASE_URL) a new database on that server, dropped afterwards (the tests'
    own database is emptied after every test, which a server running beside them must not see)."""
    from alembic import command

    if POSTGRES_URL is None:
        url = f"sqlite+aiosqlite:///{folder}/jiaoying.db"
        command.upgrade(alembic_config(url), "head")
        yield url
        return
    name = f"jiaoying_console_{os.getpid()}_{folder.name}".lower().replace("-", "_")
    own = make_url(POSTGRES_URL).set(database=name)
    _postgres(f'CREATE DATABASE "{name}"')
    try:
        command.upgrade(alembic_config(own.render_as_string(hide_password=False)), "head")
        yield own.render_as_string(hide_password=False)
    finally:
        _postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _postgres(statement: str) -> None:
    """A statement outside any transaction, on the test server's maintenance database."""

    async def run() -> None:
        assert POSTGRES_URL is not None
        engine = create_async_engine(make_url(POSTGRES_URL).set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                await connection.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(run())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """uvicorn on a free loopback port with its own migrated database (SQLite, or PostgreSQL on a
    PostgreSQL run), regions and roster."""
    folder = tmp_path_factory.mktemp("console")
    with _own_database(folder) as url:
        yield from _serving(url, folder)


def _serving(url: str, folder: Path) -> Iterator[str]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "JIAOYING_DATABASE_URL": url, "JIAOYING_ADMIN_TOKEN": ADMIN, "JIAOYING_PUBLIC_URL": base,
           "JIAOYING_SCHEDULER": "on", "JIAOYING_TICK_SECONDS": "0.2", "JIAOYING_SECRET_KEY": "console-secret",
           "JIAOYING_WEBHOOK_SECRET": WEBHOOK_SECRET,
           "JIAOYING_AUDIT_ANCHOR_FILE": str(folder / "anchors.jsonl")}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        _load(base)
        ARTIFACTS.mkdir(exist_ok=True)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


def _api(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30)


def _load(base: str) -> None:
    """The region tree and a roster of 达坂城区 (two people per village), one village left empty."""
    api = _api(base)
    regions = (FIXTURES / "regions.csv").read_bytes()
    api.post("/api/v1/regions/import", content=regions, headers={"Content-Type": "text/csv"}).raise_for_status()
    rows, number = ["name,phone,region_code,role,rank,channels"], 13800000000
    for line in (FIXTURES / "regions.csv").read_text(encoding="utf-8").splitlines()[1:]:
        code, name, level, _ = line.split(",")
        if not code.startswith("650107") or code == UNCOVERED:
            continue
        for rank in range(1, 3 if level == "village" else 2):
            number += 1
            person = "王村长" if code == ANSWERED_BY_PHONE and rank == 1 else f"{name[:4]}责任人{rank}"
            rows.append(f"{person},+86{number},{code},{'村委会主任' if rank == 1 else '网格员'},{rank},sms|voice")
    body = ("\n".join(rows) + "\n").encode()
    api.post("/api/v1/contacts/import", content=body, headers={"Content-Type": "text/csv"}).raise_for_status()


def _key(base: str, role: str, name: str) -> str:
    created = _api(base).post("/api/v1/keys", json={"name": name, "role": role, "region_code": "650107"})
    created.raise_for_status()
    return str(created.json()["token"])


def _link_for(base: str, warning_id: str, region_code: str, *, phone: str | None = None) -> str:
    """The acknowledgement link the console provider was handed for a person of the region (the
    one with that phone, if given)."""
    api = _api(base)
    phones = {c["contact"]["phone"] for c in api.get(f"/api/v1/warnings/{warning_id}/calls", params={"limit": 1000})
              .json()["items"] if c["contact"]["region_code"] == region_code}  # fmt: skip
    phones = {phone} if phone else phones
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        items = api.get("/api/v1/dev/outbox", params={"limit": 1000}).json()["items"]
        for message in items:
            if message["warning_id"] == warning_id and message["channel"] == "sms" and message["to"] in phones:
                return str(message["ack_url"])
        time.sleep(0.2)
    raise AssertionError(f"no SMS to {region_code} within 15 s")


def _shot(page: Any, name: str, *, full_page: bool = True) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def _sign_in(page: Any, base: str, token: str) -> None:
    page.goto(f"{base}/console")
    assert page.url.startswith(f"{base}/console/login")
    page.fill("#token", token)
    page.click("button:has-text('登录')")
    page.wait_for_url(f"{base}/console")


def test_a_duty_officer_runs_the_chain_through_pages(server: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    token = _key(server, "duty_officer", "李值班")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, **OFFICE)
        complaints: list[str] = []  # script errors, refused assets (the pages' Content-Security-Policy)
        page.on("console", lambda message: complaints.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: complaints.append(str(error)))
        page.goto(f"{server}/console")
        _shot(page, "01-sign-in")
        _sign_in(page, server, token)
        expect(page.locator("text=当前没有生效中的预警")).to_be_visible()

        # Issue a warning through the form: two townships picked by name, the preview, then send.
        page.click("nav >> text=发布预警")
        page.fill("#hazard", "暴雨")
        page.click("label.lv-red")
        page.fill("#title", "达坂城区暴雨红色预警")
        page.fill("#instruction", "立即转移低洼地带和河道沿岸人员")
        page.uncheck("#area-chosen input[value='650107000000']")  # the officer's own county, preselected
        for name, code in (("艾维尔沟", "650107001000"), ("乌拉泊", "650107004000")):
            page.fill("#area-q", name)
            page.check(f"#area-results input[value='{code}']")
            expect(page.locator(f"#area-chosen input[value='{code}']")).to_be_checked()
        expect(page.locator("#preview-calls")).to_have_text("16")  # 2 a village (7 with people), 1 a township
        expect(page.locator("#preview")).to_contain_text("七一平峒社区居委会")
        expect(page.locator("#previewed")).not_to_have_value("")
        _shot(page, "02-issue-form")
        page.click("button:has-text('发布预警')")
        page.wait_for_url("**/console/warnings/*?done=issued")
        warning_id = page.url.split("/console/warnings/")[1].split("?")[0]
        expect(page.locator(".flash.done")).to_contain_text("预警已发布")
        expect(page.locator(f"#r-{ANSWERS_BY_LINK}")).to_have_class("cell waiting")
        expect(page.locator(f"#r-{UNCOVERED}")).to_have_class("cell uncovered")
        expect(page.locator("#live-state")).to_contain_text("实时更新中")
        page.evaluate("window.__sameDocument = true")
        _shot(page, "03-board")
        page.set_viewport_size({"width": 360, "height": 740})  # an officer on the road, with a phone
        _shot(page, "03-board-phone", full_page=False)
        page.locator("#people").scroll_into_view_if_needed()
        _shot(page, "03-board-phone-people", full_page=False)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        page.set_viewport_size({"width": 1280, "height": 900})

        # A village contact answers on a cheap phone, scripts off.
        phone = browser.new_context(
            viewport={"width": 360, "height": 740}, java_script_enabled=False, is_mobile=True, **OFFICE
        )
        handset = phone.new_page()
        handset.goto(_link_for(server, warning_id, ANSWERS_BY_LINK))
        expect(handset.locator("button", has_text="收到")).to_be_visible()
        assert handset.evaluate("document.documentElement.scrollWidth") <= 360  # nothing wider than the screen
        _shot(handset, "04-ack-phone")
        handset.click("button:has-text('收到')")
        expect(handset.locator("text=已确认收到")).to_be_visible()
        _shot(handset, "05-ack-phone-done")
        phone.close()

        # The board turns the village green by itself, without a reload.
        expect(page.locator(f"#r-{ANSWERS_BY_LINK}")).to_have_class("cell reached", timeout=15_000)
        expect(page.locator("[data-live='regions.reached']")).to_have_text("1")
        assert page.evaluate("window.__sameDocument") is True
        _shot(page, "06-board-live")

        # The officer phones 王村长 and records the answer by hand.
        row = page.locator("#people tr", has_text="王村长")
        row.locator("select[name=method]").select_option("phone")
        row.locator("input[name=note]").fill("电话联系，已到岗")
        row.locator("button:has-text('已应答')").click()
        expect(page.locator(".flash.done")).to_contain_text("已登记应答")
        expect(page.locator(f"#r-{ANSWERED_BY_PHONE}")).to_have_class("cell reached")
        expect(page.locator("#people tr", has_text="王村长")).to_have_count(0)
        _shot(page, "07-board-manual-ack")

        # The village with nobody on record is confirmed after a township cadre went there.
        confirm = page.locator("#confirm tr", has_text="七一平峒社区居委会")
        confirm.locator("select[name=method]").select_option("in_person")
        confirm.locator("input[name=note]").fill("街道干部上门通知")
        confirm.locator("button:has-text('确认已叫应')").click()
        expect(page.locator(f"#r-{UNCOVERED}")).to_have_class("cell reached")

        # The timeline, answers only.
        page.click("text=时间线")
        page.select_option("#type", "call.acknowledged")
        page.click("button:has-text('筛选')")
        expect(page.locator("table.timeline tbody tr")).to_have_count(2)
        expect(page.locator("table.timeline")).to_contain_text("人工登记，电话，电话联系，已到岗")
        _shot(page, "08-timeline")

        # The danger has passed: the officer lifts the warning.
        page.click("text=← 返回叫应看板")
        page.once("dialog", lambda dialog: dialog.accept())
        page.fill("#actions input[name=reason]", "降雨已停止")
        page.click("button:has-text('结束预警')")
        expect(page.locator(".flash.done")).to_contain_text("预警已结束")
        expect(page.locator("[data-live='status']")).to_have_text("已解除")
        _shot(page, "09-board-ended")
        page.goto(f"{server}/console")
        _shot(page, "10-home")
        browser.close()
    assert complaints == []

    calls = _api(server).get(f"/api/v1/warnings/{warning_id}/calls", params={"limit": 1000}).json()["items"]
    methods = {c["contact"]["name"]: c["ack_method"] for c in calls if c["status"] == "acknowledged"}
    assert methods["王村长"] == "manual" and "link" in methods.values()
    regions = _api(server).get(f"/api/v1/warnings/{warning_id}/regions", params={"state": "reached"}).json()["items"]
    assert {r["region_code"]: r["reached_by"] for r in regions}[UNCOVERED] == "confirmed"


def test_an_auditor_reads_the_report_and_downloads_it(server: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    api = _api(server)
    body = {"hazard": "大风", "level": "orange", "title": "达坂城区大风橙色预警", "area_codes": ["650107100000"]}
    warning = api.post("/api/v1/warnings", json=body)
    warning.raise_for_status()
    httpx.post(_link_for(server, warning.json()["id"], "650107100201"), headers={"Accept": "application/json"})
    token = _key(server, "auditor", "赵督查")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True, **OFFICE)
        _sign_in(page, server, token)
        expect(page.locator("a:has-text('发布预警')")).to_have_count(0)  # auditors read
        page.click("nav >> text=叫应报表")
        expect(page.locator(".chart svg rect").first).to_be_visible()
        expect(page.locator("table.report")).to_contain_text("达坂城镇")
        expect(page.locator("body")).to_contain_text("八家户村委会")  # never reached
        _shot(page, "11-report")
        with page.expect_download() as download:
            page.click("text=分乡镇统计 >> a:has-text('下载 CSV')")
        saved = download.value.path()
        text = Path(saved).read_text(encoding="utf-8")
        assert text.startswith("\ufeffregion_code,name,warnings,calls")
        rows = {row["region_code"]: row for row in csv.DictReader(io.StringIO(text.lstrip("\ufeff")))}
        assert rows["650107100000"]["name"] == "达坂城镇" and int(rows["650107100000"]["acknowledged"]) >= 1
        page.goto(f"{server}/console/warnings/{warning.json()['id']}")
        expect(page.locator(".phone").first).to_contain_text("****")  # phones masked for auditors
        expect(page.locator("form[action*='/ack']")).to_have_count(0)
        _shot(page, "12-board-auditor")
        browser.close()
