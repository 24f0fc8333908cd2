"""The duty desk in a real browser: an officer fills a week of shifts in the console's form (no
script needed), sees who is on duty now and the week at a glance, a warning's silent village
goes to the officer on shift, and the handover lists that call; the home page warns of a gap.

The same loopback server and Chromium as tests/web/test_browser.py."""

import httpx

from app.db import utc_now
from app.times import BEIJING
from tests.web.test_browser import ARGS, CHROMIUM, OFFICE, UNCOVERED, _api, _key, _shot, _sign_in, pytestmark, server

__all__ = ["pytestmark", "server"]
TOWNSHIP = "650107001000"  # 艾维尔沟街道, whose 七一平峒 has nobody on record


def _office(base: str) -> dict[str, str]:
    """The township's day and night officers and its leader, on the township's own roster."""
    api = _api(base)
    people = {}
    for key, name, role, rank, phone in (("day", "白班值班员", "值班员", 3, "+8613911110001"),
                                         ("night", "夜班值班员", "值班员", 3, "+8613911110002"),
                                         ("leader", "带班领导", "副主任", 2, "+8613911110003")):  # fmt: skip
        body = {"name": name, "phone": phone, "region_code": TOWNSHIP, "role": role, "rank": rank,
                "channels": ["sms", "voice"]}  # fmt: skip
        created = api.post("/api/v1/contacts", json=body)
        created.raise_for_status()
        people[key] = created.json()["id"]
    return people


def test_an_officer_sets_a_week_of_shifts_and_the_silent_village_reaches_the_officer_on_duty(server: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    people = _office(server)
    token = _key(server, "duty_officer", "周主任")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 360, "height": 740}, java_script_enabled=False, **OFFICE)
        _sign_in(page, server, token)
        page.goto(f"{server}/console/duty")
        page.click(f"a[href='/console/duty/{TOWNSHIP}']")
        expect(page.locator("#on-duty")).to_have_text("无人值班")

        # A week of two shifts a day from the shift in force, the leader in charge of the "night"
        # one. The change-overs are set six hours either side of now, so that the shift in force
        # is the night's however the clock stands while the test runs.
        expect(page.locator("text=按 08:00 / 20:00 交班添加一周")).to_be_visible()
        hour = utc_now().astimezone(BEIJING).hour
        night_from, day_from = f"{(hour + 18) % 24:02d}:00", f"{(hour + 6) % 24:02d}:00"
        page.goto(f"{server}/console/duty/{TOWNSHIP}?fill=week&times={night_from},{day_from}")
        rows = page.locator("table.roster tbody tr")
        filled = 0
        for i in range(rows.count()):
            starts = rows.nth(i).locator("input[name=starts_at]").input_value()
            if not starts:
                continue
            night = starts.endswith(f"T{night_from}")
            rows.nth(i).locator("select[name=officer_id]").select_option(people["night" if night else "day"])
            if night:
                rows.nth(i).locator("select[name=leader_id]").select_option(people["leader"])
            filled += 1
        assert filled == 14
        _shot(page, "duty-01-roster-form")
        page.click("button:has-text('保存值班表')")
        page.wait_for_url(f"**/console/duty/{TOWNSHIP}?done=saved")
        expect(page.locator(".flash.done")).to_contain_text("值班表已保存")
        on_duty = "夜班值班员"
        expect(page.locator("#on-duty")).to_have_text(on_duty)
        expect(page.locator("table.week")).to_contain_text("夜班值班员 · 带班 带班领导")
        expect(page.locator("table.week")).to_contain_text("白班值班员")
        expect(page.locator("#gap")).to_have_count(0)
        _shot(page, "duty-02-week")

        # A red warning on the township: 七一平峒 has nobody, and goes up at once to the desk.
        api = _api(server)
        body = {"hazard": "暴雨", "level": "red", "title": "艾维尔沟暴雨红色预警", "area_codes": [UNCOVERED]}
        warning = api.post("/api/v1/warnings", json=body)
        assert warning.status_code == 201, warning.text
        found = api.get(f"/api/v1/warnings/{warning.json()['id']}/calls", params={"kind": "escalation"}).json()
        called = sorted(c["contact"]["name"] for c in found["items"])
        assert called == ["夜班值班员", "带班领导"]  # red: the officer on shift and the leader in charge
        page.goto(f"{server}/console/warnings/{warning.json()['id']}/timeline")
        expect(page.locator("body")).to_contain_text(f"上报至{on_duty}")
        _shot(page, "duty-03-timeline")

        # The handover lists the call still open in the outgoing officer's hands.
        page.goto(f"{server}/console/duty/{TOWNSHIP}")
        page.fill("#note", "七一平峒无人在册，已电话联系社区。")
        page.click("button:has-text('交班')")
        page.wait_for_url(f"**/console/duty/{TOWNSHIP}?done=handed")
        expect(page.locator("#handovers")).to_contain_text("未办结的叫应 1 件")
        expect(page.locator("#handovers")).to_contain_text("艾维尔沟暴雨红色预警")
        _shot(page, "duty-04-handover")

        # Shifts that clash are refused, each row saying with which.
        page.goto(f"{server}/console/duty/{TOWNSHIP}")
        first = page.locator("table.roster tbody tr").first
        second_start = page.locator("input[name=starts_at]").nth(1).input_value()
        first.locator("input[name=ends_at]").fill(second_start[:11] + "23:59")
        page.click("button:has-text('保存值班表')")
        expect(page.locator(".error-text").first).to_contain_text("时间重叠")
        _shot(page, "duty-05-clash")

        # A gap: the roster cleared from tomorrow shows on the home page.
        page.goto(f"{server}/console")
        expect(page.locator("#duty-gaps")).to_have_count(0)
        browser.close()
    shifts = api.get(f"/api/v1/duty/{TOWNSHIP}").json()
    current = shifts["current"]
    keep = {"starts_at": current["starts_at"], "ends_at": current["ends_at"], "officer_id": current["officer_id"]}
    assert api.put(f"/api/v1/duty/{TOWNSHIP}", json={"shifts": [keep]}).status_code == 200
    signed = httpx.Client(base_url=server)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 360, "height": 740}, **OFFICE)
        _sign_in(page, server, token)
        expect(page.locator("#duty-gaps")).to_contain_text("艾维尔沟街道")
        expect(page.locator("#duty-gaps")).to_contain_text("其后未排班")
        _shot(page, "duty-06-home-gap")
        browser.close()
    signed.close()
