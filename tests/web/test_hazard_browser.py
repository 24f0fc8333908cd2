"""The chain upward in a real browser, as its people meet it.

First, the issue's own path: a village contact reports from the form behind their standing report
link (sent to them by SMS), the township takes it by an SMS reply (接报), the officer blows the
whistle for two departments, one reports in by a key on its voice call (报到) and the silent one is
brought to the county's officer on shift, the report is resolved, and the reporter, unsatisfied,
reopens it; replies and keys come in signed, as a gateway hands them over.

Then the desk's own path: a duty officer takes a report by
phone in the console's form, the township takes it (接报) from the link in its SMS on a phone
without scripts, the officer blows the whistle for two departments, one reports in (报到) from its
link and the silent one is brought to the county's officer on duty by the heartbeat, the report is
resolved, and the reporter, not satisfied, reopens it from the link in the SMS asking for 末端评价.

The same loopback server (scheduler on, 0.2 s ticks) and Chromium as tests/web/test_browser.py;
screenshots at 360 px in tests/artifacts/."""

import json
import time
from itertools import count
from typing import Any

from app.notify.webhook import signed_headers
from tests.web.test_browser import (
    ARGS,
    ARTIFACTS,
    CHROMIUM,
    OFFICE,
    WEBHOOK_SECRET,
    _api,
    _key,
    _shot,
    _sign_in,
    pytestmark,
    server,
)

__all__ = ["pytestmark", "server"]
COUNTY = "650107000000"
VILLAGE = "650107001001"  # 工人新村社区居委会, under 艾维尔沟街道, whose 责任人1 takes reports
PHONES = {"reporter": "+8613922220001", "officer": "+8613922220002", "water": "+8613922220003",
          "land": "+8613922220004"}  # fmt: skip
LINK_PHONES = {"officer": "+8613922230002", "water": "+8613922230003", "land": "+8613922230004"}
_inbound = count(1)


def _setup(
    base: str, phones: dict[str, str] = PHONES, names: tuple[str, str] = ("水利局", "自然资源局")
) -> dict[str, Any]:
    """Two departments of the county with a person each, and a 县值班员 on shift now."""
    api = _api(base)
    departments = {}
    for key, name in (("water", names[0]), ("land", names[1])):
        made = api.post("/api/v1/departments", json={"name": name, "region_code": COUNTY})
        made.raise_for_status()
        departments[key] = made.json()["id"]
    people = {}
    for key, name, region, rank, department in (
        ("officer", "县值班员", COUNTY, 3, None), ("water", "水利值班", COUNTY, 5, departments["water"]),
        ("land", "自然资源值班", COUNTY, 5, departments["land"]),
    ):  # fmt: skip
        body = {"name": name, "phone": phones[key], "region_code": region, "role": "值班员", "rank": rank,
                "channels": ["sms", "voice"], "department_id": department}  # fmt: skip
        made = api.post("/api/v1/contacts", json=body)
        made.raise_for_status()
        people[key] = made.json()["id"]
    now = time.time()
    shift = {"starts_at": _iso(now - 3600), "ends_at": _iso(now + 8 * 3600), "officer_id": people["officer"]}
    if api.get(f"/api/v1/duty/{COUNTY}").json()["current"] is None:  # the other test's 县值班员 may be on shift
        api.put(f"/api/v1/duty/{COUNTY}", json={"shifts": [shift]}).raise_for_status()
    return departments


def _iso(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat()


def _reply(base: str, phone: str, *, text: str | None = None, digits: str | None = None) -> dict[str, Any]:
    """An SMS reply, or a key pressed on a voice call, as the gateway hands it over (signed)."""
    item = {"inbound_id": f"browser-{next(_inbound)}", "from": phone, "channel": "voice" if digits else "sms",
            "text": text, "digits": digits}  # fmt: skip
    body = json.dumps(item).encode()
    response = _api(base).post("/api/v1/providers/webhook/inbound", content=body,
                               headers=signed_headers(WEBHOOK_SECRET, body))  # fmt: skip
    response.raise_for_status()
    return dict(response.json())


def _first(base: str, region_code: str) -> dict[str, Any]:
    """The region's rank-1 person on the roster the server fixture loads."""
    items = _api(base).get("/api/v1/contacts", params={"region_code": region_code}).json()["items"]
    return dict(sorted(items, key=lambda c: c["rank"])[0])


def _wait_for(page: Any, text: str, seconds: float = 20) -> None:
    """Reload the page until it says `text` (the heartbeat moves the chain in its own time)."""
    deadline = time.monotonic() + seconds
    while text not in page.content() and time.monotonic() < deadline:
        time.sleep(0.5)
        page.reload()


def test_a_village_contact_reports_from_the_link_and_the_chain_runs_up(server: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    departments = _setup(server, LINK_PHONES, ("住建局", "交通运输局"))
    villager, township = _first(server, VILLAGE), _first(server, "650107001000")
    api = _api(server)
    api.post(f"/api/v1/contacts/{villager['id']}/report-link").raise_for_status()
    token = _key(server, "duty_officer", "县值班台")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        office = browser.new_page(viewport={"width": 360, "height": 740}, java_script_enabled=False, **OFFICE)
        phone = browser.new_page(viewport={"width": 360, "height": 740}, java_script_enabled=False, **OFFICE)
        _sign_in(office, server, token)

        # 群众发现、村社上报: the village contact, from the link the SMS brought.
        phone.goto(_sms_link(server, villager["phone"], "险情上报链接"))
        expect(phone.locator("header")).to_contain_text(villager["name"])
        phone.select_option("#category", "道路塌方")
        phone.fill("#description", "村口道路塌方约10米，车辆无法通行")
        phone.fill("#people_at_risk", "8")
        _shot(phone, "hazard-link-01-form")
        phone.click("button:has-text('上报险情')")
        expect(phone.locator("body")).to_contain_text("险情已上报")
        expect(phone.locator("body")).to_contain_text("待接报")
        _shot(phone, "hazard-link-02-sent")
        (report,) = [h for h in api.get("/api/v1/hazards").json()["items"] if h["category"] == "道路塌方"]
        assert report["source"] == "link" and report["region_code"] == VILLAGE
        report_url = f"{server}/console/hazards/{report['id']}"

        # 村社接报: the township replies 收到 to its SMS.
        _sms_link(server, township["phone"], "道路塌方")
        assert _reply(server, township["phone"], text="收到")["result"] == "acknowledged"
        office.goto(report_url)
        expect(office.locator("header.warning-head")).to_contain_text("已接报")

        # 街乡吹哨: two departments, six seconds to report in; 部门报到 by a key on the voice call.
        for key in ("water", "land"):
            office.check(f"#whistle input[value='{departments[key]}']")
        office.fill("#instruction", "立即封闭道路，组织抢通")
        office.fill("#deadline_min", "0.1")
        office.click("#whistle button")
        office.wait_for_url("**?done=whistle")
        _sms_link(server, LINK_PHONES["water"], "请报到")
        assert _reply(server, LINK_PHONES["water"], digits="1")["result"] == "acknowledged"
        _wait_for(office, "未报到，已上报督办")
        expect(office.locator("#dispatches")).to_contain_text("已报到")
        expect(office.locator("#dispatches")).to_contain_text("未报到，已上报督办")
        expect(office.locator("#calls")).to_contain_text("县值班员")
        _sms_link(server, LINK_PHONES["officer"], "督办")
        _shot(office, "hazard-link-03-report")

        # Resolved; 末端评价 from the reporter's link: not satisfied, and the report reopens.
        office.check("#progress input[value='resolved']")
        office.fill("#note", "道路已抢通，设置警示标志")
        office.click("#progress button")
        office.wait_for_url("**?done=progress")
        phone.goto(_sms_link(server, villager["phone"], "请评价"))
        expect(phone.locator("body")).to_contain_text("道路已抢通")
        phone.fill("#note", "路基仍在下沉")
        phone.click("button:has-text('不满意')")
        expect(phone.locator("body")).to_contain_text("评价已提交")
        office.goto(report_url)
        expect(office.locator("header.warning-head")).to_contain_text("重新交办")
        expect(office.locator("#timeline")).to_contain_text("末端评价")
        _shot(office, "hazard-link-04-reopened")
        office.goto(f"{server}/console/reports?region_code={COUNTY}&group_by=township")
        expect(office.locator("#hazards")).to_contain_text("艾维尔沟街道")
        office.locator("#hazards").screenshot(path=str(ARTIFACTS / "hazard-link-05-figures.png"))
        browser.close()
    events = api.get(f"/api/v1/hazards/{report['id']}/timeline", params={"limit": 200}).json()["items"]
    kinds = [e["type"] for e in events]
    for step in ("hazard.reported", "hazard.received", "hazard.dispatched", "hazard.reported_in",
                 "hazard.escalated", "hazard.resolved", "hazard.evaluated", "hazard.reopened"):  # fmt: skip
        assert step in kinds, (step, kinds)


def _sms_link(base: str, phone: str, *words: str) -> str:
    """The link in the latest SMS to a phone that says all of `words`, as the console provider was
    handed it (the tests share a server: a phone may have had SMS about the other test's report)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        items = _api(base).get("/api/v1/dev/outbox", params={"limit": 1000}).json()["items"]
        for message in items:
            if message["to"] == phone and message["channel"] == "sms" and all(w in message["text"] for w in words):
                return str(message["ack_url"])
        time.sleep(0.2)
    raise AssertionError(f"no SMS to {phone} saying {words} within 20 s")


def test_a_report_runs_upward_through_pages_and_links(server: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    departments = _setup(server)
    township_phone = _township_phone(server)
    token = _key(server, "duty_officer", "县值班台")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        office = browser.new_page(viewport={"width": 360, "height": 740}, java_script_enabled=False, **OFFICE)
        phone = browser.new_page(viewport={"width": 360, "height": 740}, java_script_enabled=False, **OFFICE)
        _sign_in(office, server, token)

        # A villager phones the county: the officer takes the report in the form.
        office.goto(f"{server}/console/hazards/new")
        office.fill("#region_code", VILLAGE)
        office.fill("#category", "山体裂缝")
        office.fill("#description", "后山出现长约20米裂缝，有落石")
        office.fill("#people_at_risk", "12")
        office.fill("#reporter_name", "村民王某")
        office.fill("#reporter_phone", PHONES["reporter"])
        _shot(office, "hazard-01-new")
        office.click("button:has-text('登记并呼叫接报单位')")
        office.wait_for_url("**/console/hazards/*?done=reported")
        report_url = office.url.split("?")[0]
        expect(office.locator("#clock")).to_contain_text("待接报")

        # 接报: the township, from the link in its SMS.
        phone.goto(_sms_link(server, township_phone, "请接报", "山体裂缝"))
        expect(phone.locator("body")).to_contain_text("请接报以下险情")
        _shot(phone, "hazard-02-township-link")
        phone.click("button:has-text('接报')")
        expect(phone.locator("body")).to_contain_text("已确认收到")
        office.goto(report_url)
        expect(office.locator("header.warning-head")).to_contain_text("已接报")

        # 吹哨: two departments, six seconds to report in.
        for key in ("water", "land"):
            office.check(f"#whistle input[value='{departments[key]}']")
        office.fill("#instruction", "立即派人核查")
        office.fill("#deadline_min", "0.1")
        office.click("#whistle button")
        office.wait_for_url("**?done=whistle")
        phone.goto(_sms_link(server, PHONES["water"], "请报到"))
        phone.click("button:has-text('报到')")
        expect(phone.locator("body")).to_contain_text("已确认收到")
        deadline = time.monotonic() + 20
        while "未报到，已上报督办" not in office.content() and time.monotonic() < deadline:
            time.sleep(0.5)
            office.reload()
        expect(office.locator("#dispatches")).to_contain_text("已报到")
        expect(office.locator("#dispatches")).to_contain_text("未报到，已上报督办")
        expect(office.locator("#calls")).to_contain_text("县值班员")
        _shot(office, "hazard-03-report")

        # Resolved; the reporter is not satisfied, from the link in the SMS, and the report reopens.
        office.check("#progress input[value='resolved']")
        office.fill("#note", "已清理落石，设置警戒")
        office.click("#progress button")
        office.wait_for_url("**?done=progress")
        phone.goto(_sms_link(server, PHONES["reporter"], "请评价", "山体裂缝"))
        expect(phone.locator("body")).to_contain_text("已清理落石")
        _shot(phone, "hazard-04-evaluation")
        phone.fill("#note", "裂缝仍在扩大")
        phone.click("button:has-text('不满意')")
        expect(phone.locator("body")).to_contain_text("评价已提交")
        office.goto(report_url)
        expect(office.locator("header.warning-head")).to_contain_text("重新交办")
        expect(office.locator("#timeline")).to_contain_text("末端评价")
        _shot(office, "hazard-05-reopened")
        office.goto(f"{server}/console/hazards")
        expect(office.locator("#hazards")).to_contain_text("山体裂缝")
        _shot(office, "hazard-06-board")
        browser.close()


def _township_phone(base: str) -> str:
    """The township's rank-1 person, on the roster the server fixture loads."""
    items = _api(base).get("/api/v1/contacts", params={"region_code": "650107001000"}).json()["items"]
    return str(sorted(items, key=lambda c: c["rank"])[0]["phone"])
