"""A Uyghur-speaking village contact's pages in a real browser at 360 px, without scripts: the
warning's page reads right to left with the Chinese beside each text, 收到 is pressed in Uyghur,
and the report form behind the ack page's button is in Uyghur too. The same loopback server as
tests/web/test_browser.py; screenshots in tests/artifacts/ (ug-*.png)."""

from typing import Any

from app import i18n
from tests.web.test_browser import ARGS, CHROMIUM, _api, _link_for, _shot, pytestmark, server

__all__ = ["pytestmark", "server"]
VILLAGE = "650107100201"
UG = i18n.catalog("ug")
TITLE_UG = "دابەنچىڭ رايونىدا قاتتىق يامغۇر قىزىل ئاگاھلاندۇرۇشى"
INSTRUCTION_UG = "دەريا بويى ۋە پەس جايلاردىكى ئادەملەرنى دەرھال يۆتكەڭ"
PHONE = {"locale": "ug-CN", "timezone_id": "Asia/Shanghai"}


def _uyghur_contact(base: str) -> dict[str, Any]:
    api = _api(base)
    body = {"name": "ئابدۇللا", "phone": "+8613977770001", "region_code": VILLAGE, "role": "村委会主任", "rank": 1,
            "channels": ["sms"], "language": "ug"}  # fmt: skip
    made = api.post("/api/v1/contacts", json=body)
    made.raise_for_status()
    return dict(made.json())


def test_a_uyghur_contact_reads_and_answers_the_warning_right_to_left(server: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    person = _uyghur_contact(server)
    body = {"hazard": "暴雨", "level": "red", "title": "达坂城区暴雨红色预警", "area_codes": [VILLAGE],
            "instruction": "立即转移河道沿岸和低洼地带人员",
            "translations": {"ug": {"title": TITLE_UG, "instruction": INSTRUCTION_UG}}}  # fmt: skip
    warning = _api(server).post("/api/v1/warnings", json=body)
    warning.raise_for_status()
    link = _link_for(server, warning.json()["id"], VILLAGE, phone=person["phone"])
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        handset = browser.new_page(viewport={"width": 360, "height": 740}, java_script_enabled=False,
                                   is_mobile=True, **PHONE)  # fmt: skip
        handset.goto(link)
        html = handset.locator("html")
        expect(html).to_have_attribute("dir", "rtl")
        expect(html).to_have_attribute("lang", "ug")
        expect(handset.locator("h1")).to_contain_text(TITLE_UG)
        expect(handset.locator("h1 .zh")).to_have_text("达坂城区暴雨红色预警")  # Chinese beside
        expect(handset.locator("body")).to_contain_text(INSTRUCTION_UG)
        button = handset.locator("button[type=submit]").first
        expect(button).to_contain_text(UG("收到"))
        expect(button.locator(".zh")).to_have_text("收到")
        # Right to left: the first tag sits at the right edge of the header, not the left.
        tag = handset.locator("header .tag").first.bounding_box()
        assert tag is not None and tag["x"] + tag["width"] > 360 - 40 and tag["x"] > 40
        assert handset.evaluate("document.documentElement.scrollWidth") <= 360
        _shot(handset, "ug-01-ack-page")
        button.click()
        expect(handset.locator("section.done").first).to_contain_text(UG("已确认收到，谢谢。"))
        _shot(handset, "ug-02-acknowledged")
        handset.locator("button:has-text('点此上报')").click()
        expect(handset.locator("html")).to_have_attribute("dir", "rtl")
        expect(handset.locator("h1")).to_contain_text(UG("险情上报"))
        assert handset.evaluate("document.documentElement.scrollWidth") <= 360
        _shot(handset, "ug-03-report-form")
        browser.close()
    calls = _api(server).get(f"/api/v1/warnings/{warning.json()['id']}/calls").json()["items"]
    (call,) = [c for c in calls if c["contact"]["id"] == person["id"]]
    assert call["status"] == "acknowledged" and call["ack_method"] == "link"
