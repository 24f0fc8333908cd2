"""SMS through a real Kannel on loopback (Debian's kannel, and fakesmsc from kannel-extras as the
carrier's SMSC): the text reaches the SMSC whole, delivery reports settle it, a villager's 收到
answers and 没收到 does not, a wrong secret is refused, and Kannel stopped and started again loses
nothing. `.ci/run` installs both packages; elsewhere these tests are skipped."""

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import FIXTURES
from tests.drills.cluster import Service, migrate
from tests.notify.smsc import INSTALLED, Kannel

SECRET = "kannel-callback-secret"
VILLAGE = "650107001001"
pytestmark = pytest.mark.skipif(
    not INSTALLED and not os.environ.get("JIAOYING_REQUIRE_KANNEL"),
    reason="needs Debian's kannel and kannel-extras (installed by .ci/run)",
)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Service, Kannel]]:
    database = f"sqlite+aiosqlite:///{tmp_path}/jiaoying.db"
    migrate(database)
    running = Service(database, provider="kannel", kannel_secret=SECRET, kannel_username="jiaoying",
                      kannel_password="sendsms-password", tick_seconds="0.2")  # fmt: skip
    kannel = Kannel(tmp_path, callbacks=f"{running.url}/api/v1/providers/kannel/{SECRET}")
    running.env["JIAOYING_KANNEL_URL"] = kannel.url
    try:
        kannel.start()
        running.start()
        yield running, kannel
    finally:
        running.close()
        kannel.stop()


def until(check: Any, what: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def prepare(api: httpx.Client, phone: str) -> None:
    regions = (FIXTURES / "regions.csv").read_bytes()
    api.post("/api/v1/regions/import", content=regions, headers={"Content-Type": "text/csv"}).raise_for_status()
    person = {"name": "王建国", "phone": phone, "region_code": VILLAGE, "role": "村委会主任", "rank": 1,
              "channels": ["sms"]}  # fmt: skip
    api.post("/api/v1/contacts", json=person).raise_for_status()


def timeline(api: httpx.Client, warning_id: str) -> list[str]:
    return [e["type"] for e in api.get(f"/api/v1/warnings/{warning_id}/timeline").json()["items"]]


def calls(api: httpx.Client, warning_id: str) -> list[dict[str, Any]]:
    return list(api.get(f"/api/v1/warnings/{warning_id}/calls").json()["items"])


def test_an_sms_its_report_and_the_replies_round_trip_through_kannel(world: tuple[Service, Kannel]) -> None:
    running, kannel = world
    with running.client() as api:
        prepare(api, "+8613800138000")
        body = {"hazard": "暴雨", "level": "orange", "title": "暴雨橙色预警", "instruction": "立即转移低洼地带人员",
                "area_codes": [VILLAGE]}  # fmt: skip
        warning = api.post("/api/v1/warnings", json=body).json()
        (to, text), *_ = until(kannel.handed, "the SMS reaching the SMSC")
        assert to == "+8613800138000"
        assert "暴雨橙色预警" in text and "立即转移低洼地带人员" in text and f"{running.url}/ack/" in text
        link = text[text.index(f"{running.url}/ack/") :]
        assert httpx.get(link).status_code == 200  # the link arrived whole
        until(lambda: "message.delivered" in timeline(api, warning["id"]), "the delivery report")

        kannel.reply("8613800138000", "没收到")
        until(lambda: "reply.received" in timeline(api, warning["id"]), "the reply on the record")
        assert calls(api, warning["id"])[0]["status"] == "notified"
        kannel.reply("8613800138000", "收到")
        answered = until(lambda: [c for c in calls(api, warning["id"]) if c["status"] == "acknowledged"], "收到")
        assert answered[0]["ack_method"] == "sms_reply"

        wrong = httpx.get(f"{running.url}/api/v1/providers/kannel/not-the-secret/mo",
                          params={"from": "8613800138000", "text": "收到", "id": "x"})  # fmt: skip
        assert wrong.status_code == 401


def test_kannel_stopped_and_started_again_loses_nothing(world: tuple[Service, Kannel]) -> None:
    running, kannel = world
    with running.client() as api:
        prepare(api, "+8613800138001")
        kannel.stop()
        body = {"hazard": "大风", "level": "orange", "title": "大风橙色预警", "area_codes": [VILLAGE]}
        warning = api.post("/api/v1/warnings", json=body).json()
        time.sleep(3)  # the sender finds nobody listening, and backs off
        assert "message.sent" not in timeline(api, warning["id"])
        kannel.start()
        handed = until(kannel.handed, "the SMS reaching the SMSC once Kannel is back", timeout=90)
        until(lambda: "message.delivered" in timeline(api, warning["id"]), "the delivery report")
        assert [to for to, _ in handed] == ["+8613800138001"]


def test_a_hazard_report_by_sms_and_its_taking_go_through_kannel(world: tuple[Service, Kannel]) -> None:
    """The chain upward through the real gateway: a village contact's SMS starting with 险情 is a
    report of their village, the township's SMS asking to take it reaches the SMSC, and the
    township's 收到 through Kannel takes it (接报); the contact's report link arrives whole."""
    running, kannel = world
    with running.client() as api:
        prepare(api, "+8613800138000")
        township = {"name": "街道书记", "phone": "+8613800138001", "region_code": "650107001000", "role": "书记",
                    "rank": 1, "channels": ["sms"]}  # fmt: skip
        api.post("/api/v1/contacts", json=township).raise_for_status()
        kannel.reply("8613800138000", "险情：后山裂缝，有落石")
        (report,) = until(lambda: api.get("/api/v1/hazards").json()["items"], "the report")
        assert report["region_code"] == VILLAGE and report["source"] == "sms" and report["category"] == "后山裂缝"
        (_, text), *_ = until(lambda: [h for h in kannel.handed() if h[0] == "+8613800138001"], "the 接报 SMS")
        assert "后山裂缝" in text and "请接报" in text and f"{running.url}/ack/" in text
        kannel.reply("8613800138001", "收到")
        until(lambda: api.get(f"/api/v1/hazards/{report['id']}").json()["status"] == "received", "接报")
        (villager,) = api.get("/api/v1/contacts", params={"region_code": VILLAGE}).json()["items"]
        api.post(f"/api/v1/contacts/{villager['id']}/report-link").raise_for_status()
        (_, link_text), *_ = until(lambda: [h for h in kannel.handed() if "/r/" in h[1]], "the report link")
        assert httpx.get(link_text[link_text.index(f"{running.url}/r/") :]).status_code == 200


def test_a_uyghur_contact_gets_uyghur_and_answers_in_uyghur_through_kannel(world: tuple[Service, Kannel]) -> None:
    """Issue 28 through the real gateway: the Uyghur SMS reaches the SMSC whole (UCS-2, two parts
    at most) with a working link, and the villager's Uyghur word for "received" answers."""
    from app import i18n

    running, kannel = world
    with running.client() as api:
        prepare(api, "+8613800138000")
        (villager,) = api.get("/api/v1/contacts", params={"region_code": VILLAGE}).json()["items"]
        api.patch(f"/api/v1/contacts/{villager['id']}", json={"language": "ug"}).raise_for_status()
        body = {"hazard": "暴雨", "level": "orange", "title": "暴雨橙色预警", "instruction": "立即转移低洼地带人员",
                "area_codes": [VILLAGE]}  # fmt: skip
        warning = api.post("/api/v1/warnings", json=body).json()
        (to, text), *_ = until(kannel.handed, "the Uyghur SMS reaching the SMSC")
        assert to == "+8613800138000" and i18n.catalog("ug")("橙色") in text and "预警" not in text
        assert len(text) <= 134
        assert httpx.get(text[text.index(f"{running.url}/ack/") :]).status_code == 200
        kannel.reply("8613800138000", "تاپشۇرۇۋالدىم")
        answered = until(lambda: [c for c in calls(api, warning["id"]) if c["status"] == "acknowledged"], "the answer")
        assert answered[0]["ack_method"] == "sms_reply"
