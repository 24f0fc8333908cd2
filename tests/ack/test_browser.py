"""The acknowledgement link in a real browser at a phone's width: open, press 收到, send a 首报.

A real server on loopback (its own SQLite database, the scheduler on, the console provider) and
Debian's Chromium driven by Playwright. Skipped where Chromium is missing, unless
JIAOYING_REQUIRE_BROWSER is set (CI sets it and installs Chromium).
"""

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import FIXTURES, ROOT, alembic_config

CHROMIUM = os.environ.get("JIAOYING_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and os.environ.get("JIAOYING_REQUIRE_BROWSER"):
    raise RuntimeError("JIAOYING_REQUIRE_BROWSER is set but no Chromium was found (apt-get install chromium)")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
TOKEN = "browser-admin-token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """uvicorn on a free loopback port with its own migrated SQLite database."""
    from alembic import command

    folder = tmp_path_factory.mktemp("browser")
    url = f"sqlite+aiosqlite:///{folder}/jiaoying.db"
    command.upgrade(alembic_config(url), "head")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "JIAOYING_DATABASE_URL": url,
        "JIAOYING_ADMIN_TOKEN": TOKEN,
        "JIAOYING_PUBLIC_URL": base,
        "JIAOYING_SCHEDULER": "on",
        "JIAOYING_TICK_SECONDS": "0.2",
        "JIAOYING_SECRET_KEY": "browser-secret",
    }
    server = subprocess.Popen(
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
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


def _issue_and_find_link(base: str) -> tuple[str, str]:
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    regions = (FIXTURES / "regions.csv").read_bytes()
    api.post("/api/v1/regions/import", content=regions, headers={"Content-Type": "text/csv"}).raise_for_status()
    contact = {"name": "王村长", "phone": "13800138000", "region_code": "650107001001", "role": "村委会主任",
               "rank": 1, "channels": ["sms", "voice"]}  # fmt: skip
    api.post("/api/v1/contacts", json=contact).raise_for_status()
    body = {"hazard": "暴雨", "level": "red", "title": "达坂城区暴雨红色预警", "instruction": "立即转移低洼地带人员",
            "area_codes": ["650107"]}  # fmt: skip
    warning = api.post("/api/v1/warnings", json=body)
    warning.raise_for_status()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        sms = [m for m in api.get("/api/v1/dev/outbox").json()["items"] if m["channel"] == "sms"]
        if sms:
            return warning.json()["id"], sms[0]["ack_url"]
        time.sleep(0.1)
    raise AssertionError("the sender handed no SMS to the console provider within 10 s")


def test_a_village_contact_answers_on_a_phone(live_server: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    warning_id, link = _issue_and_find_link(live_server)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        page = browser.new_page(viewport={"width": 360, "height": 740}, java_script_enabled=False)
        page.goto(link)
        assert "达坂城区暴雨红色预警" in page.title()
        assert page.locator("button", has_text="收到").is_visible()
        page.screenshot(path=str(tmp_path / "link.png"), full_page=True)
        page.click("button:has-text('收到')")
        expect(page.locator("text=已收到").first).to_be_visible()  # after the redirect has loaded
        page.select_option("#stage", "initial")
        page.fill("#actions", "已到岗，正在转移低洼地带群众")
        page.fill("#evacuated", "12")
        page.click("button:has-text('提交反馈')")
        expect(page.locator("text=反馈已提交")).to_be_visible()
        browser.close()
    api = httpx.Client(base_url=live_server, headers={"Authorization": f"Bearer {TOKEN}"})
    call = api.get(f"/api/v1/warnings/{warning_id}/calls").json()["items"][0]
    assert call["status"] == "acknowledged" and call["ack_method"] == "link" and call["feedback_count"] == 1
