"""Languages at their edges, each found in review and failing before its fix: a county's slip in a
catalog never stops sending; replies, reports and 一键呼叫 in the person's language; a Uyghur
"no danger" is no report; the hazard's own name from CAP; a language without a catalog any more;
a region's default reaching the villages below it."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from httpx import AsyncClient

from app import i18n
from app.config import get_settings
from app.db import utc_now
from app.hazard import sms as hazard_sms
from app.i18n import pages
from app.notify.dispatch import Dispatcher
from app.notify.sender import send_due
from tests.conftest import ROOT
from tests.factories import TOWNSHIP, VILLAGE, create_contact, issue, outbox, send_all
from tests.notify.aliyun_cloud import AliyunCloud
from tests.notify.conftest import gateway_secret  # noqa: F401 - the fixture
from tests.notify.receiver import signed_post
from tests.notify.test_aliyun import aliyun_voice, cloud  # noqa: F401 - the fixtures

PUBLIC = "http://127.0.0.1:8000"
INBOUND = "/api/v1/providers/webhook/inbound"


@pytest.fixture
def county(tmp_path: Path) -> Iterator[Path]:
    """A county's catalog folder: write its files, then `i18n.configure(county)`."""
    yield tmp_path
    i18n.configure(None)


async def test_a_county_slip_in_a_catalog_never_stops_sending(client: AsyncClient, regions: None, county: Path) -> None:
    (county / "ug.po").write_text('msgid "{drill}{hazard}{level}预警"\nmsgstr "{drill}{hazard.name} {level}"\n',
                                  encoding="utf-8")  # fmt: skip
    (county / "kk.po").write_bytes('msgid "红色"\nmsgstr "红"\n'.encode("gbk"))  # not UTF-8
    i18n.configure(county)
    ug = await create_contact(client, VILLAGE, channels=["sms"], language="ug")
    zh = await create_contact(client, VILLAGE, channels=["sms"], rank=2)
    warning = await issue(client, area_codes=[VILLAGE])
    await send_all()
    sent = {m["to"] for m in await outbox(client, warning["id"])}
    assert {ug["phone"], zh["phone"]} <= sent


async def test_call_now_speaks_the_persons_language(client: AsyncClient, regions: None) -> None:
    person = await create_contact(client, VILLAGE, channels=["sms"], language="ug")
    warning = await issue(client, area_codes=[VILLAGE])
    await send_all()
    pressed = await client.post(f"/api/v1/warnings/{warning['id']}/call-now")
    assert pressed.status_code == 200, pressed.text
    await send_all()
    texts = [m["text"] for m in await outbox(client, warning["id"]) if m["to"] == person["phone"]]
    assert len(texts) == 2 and all("预警" not in text for text in texts), texts


async def test_a_uyghur_sms_report_from_a_phone_on_two_rosters_is_a_report(
    client: AsyncClient,
    anonymous: AsyncClient,
    regions: None,
    gateway_secret: None,  # noqa: F811
) -> None:
    """The phone's languages decide whether it is a report, and the same languages read it."""
    person = await create_contact(client, VILLAGE, channels=["sms"], language="ug")
    await create_contact(client, TOWNSHIP, channels=["sms"])  # the township office, to take it
    await create_contact(client, TOWNSHIP, channels=["sms"], phone=person["phone"], rank=2)  # latest, Chinese
    body = {"inbound_id": "ug-report", "from": person["phone"], "channel": "sms",
            "text": "خەتەر: كەنت ئارقىسىدىكى تاغدا يېرىق پەيدا بولدى"}  # fmt: skip
    answered = (await signed_post(anonymous, INBOUND, body)).json()
    assert answered["result"] == "hazard_report" and answered["hazard_id"] is not None, answered


@pytest.mark.parametrize("text", ["خەتەر يوق", "خەتەرسىز", "قاتەرسىز", "قاتەر جوق", "خەۋپلىك ئەمەس"])
def test_no_danger_in_uyghur_or_kazakh_is_not_a_hazard_report(text: str) -> None:
    assert hazard_sms.sms_report(text, ["ug", "kk"]) is None


def test_a_uyghur_sms_reports_category_is_its_first_clause() -> None:
    parsed = hazard_sms.sms_report("خەتەر: يول ئۆرۈلدى، ماشىنا ئۆتەلمەيدۇ، 10 ئائىلە خەۋپتە", ["ug"])
    assert parsed is not None and parsed[0] == "يول ئۆرۈلدى", parsed
    assert hazard_sms.sms_report("险情：后山裂缝，有落石") == ("后山裂缝", "后山裂缝，有落石", False)


def test_a_browser_that_declines_a_language_does_not_get_it() -> None:
    assert pages.from_accept_language("ug;q=0, zh-CN") == "zh"
    assert pages.from_accept_language("ug-CN, zh;q=0.8") == "ug"


async def test_a_uyghur_sms_names_the_hazard_as_the_cap_alert_does(client: AsyncClient, regions: None) -> None:
    from tests.cap.documents import alert, info, post_cap

    person = await create_contact(client, VILLAGE, channels=["sms"], language="ug")
    ug = info(language="ug-CN", event="قاتتىق يامغۇر", headline="قاتتىق يامغۇر قىزىل ئاگاھلاندۇرۇشى",
              parameters=(("预警级别", "红色"),))  # fmt: skip
    posted = await post_cap(client, alert(info(parameters=(("预警级别", "红色"),)), ug))
    assert posted.status_code == 201, posted.text
    assert posted.json()["translations"]["ug"]["hazard"] == "قاتتىق يامغۇر"
    await send_all()
    (sms,) = [m["text"] for m in await outbox(client, posted.json()["id"]) if m["to"] == person["phone"]]
    assert "قاتتىق يامغۇر" in sms, sms


async def test_the_ack_page_shows_an_instruction_given_only_in_the_persons_language(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    person = await create_contact(client, VILLAGE, channels=["sms"], language="ug")
    warning = await issue(client, area_codes=[VILLAGE], instruction=None,
                          translations={"ug": {"instruction": "دەرھال بىخەتەر جايغا يۆتكىلىڭ"}})  # fmt: skip
    await send_all()
    (sms,) = [m for m in await outbox(client, warning["id"]) if m["to"] == person["phone"]]
    assert "دەرھال" in sms["text"]
    assert "دەرھال بىخەتەر" in (await anonymous.get(sms["ack_url"].removeprefix(PUBLIC))).text


async def test_a_language_whose_catalog_was_removed_reads_as_chinese(
    client: AsyncClient, anonymous: AsyncClient, regions: None, county: Path
) -> None:
    (county / "ar.po").write_text('msgid "收到"\nmsgstr "استلمت"\n', encoding="utf-8")
    i18n.configure(county)
    person = await create_contact(client, VILLAGE, channels=["sms"], language="ar")
    i18n.configure(None)  # the county takes the file away
    assert (await client.get(f"/api/v1/contacts/{person['id']}")).json()["language"] == "zh"
    warning = await issue(client, area_codes=[VILLAGE])
    await send_all()
    (sms,) = [m for m in await outbox(client, warning["id"]) if m["to"] == person["phone"]]
    assert sms["text"].startswith("【叫应】大风红色预警")
    assert '<html lang="zh-CN" dir="ltr">' in (await anonymous.get(sms["ack_url"].removeprefix(PUBLIC))).text


async def test_a_townships_language_reaches_the_contacts_of_its_villages(client: AsyncClient, regions: None) -> None:
    imported = await client.post(
        "/api/v1/regions/import", content=f"code,name,level,parent_code,language\n"
        f"{TOWNSHIP},艾维尔沟街道,township,650107000000,kk\n".encode(), headers={"Content-Type": "text/csv"},
    )  # fmt: skip
    assert imported.status_code == 200, imported.text
    villager = await create_contact(client, VILLAGE, channels=["sms"])
    chinese = await create_contact(client, VILLAGE, channels=["sms"], language="zh", rank=2)
    assert villager["language"] == "kk" and chinese["language"] == "zh"
    warning = await issue(client, area_codes=[VILLAGE])
    await send_all()
    texts = {m["to"]: m["text"] for m in await outbox(client, warning["id"])}
    assert i18n.catalog("kk")("红色") in texts[villager["phone"]] and "预警" in texts[chinese["phone"]]


async def test_through_aliyun_a_voice_attempt_brings_no_second_chinese_sms(
    client: AsyncClient,
    regions: None,
    cloud: AliyunCloud,  # noqa: F811
    aliyun_voice: Dispatcher,  # noqa: F811
) -> None:
    """Aliyun sends its approved templates, which are Chinese: the SMS beside a voice attempt would
    only repeat the Chinese, so none goes."""
    policy = (await client.get("/api/v1/policies/red")).json()
    policy = {key: value for key, value in policy.items() if key != "level"}
    assert (await client.put("/api/v1/policies/red", json=policy | {"channels_by_attempt": [["voice"]]})).is_success
    await create_contact(client, VILLAGE, channels=["sms", "voice"], language="ug")
    await issue(client, area_codes=[VILLAGE])
    await send_due(aliyun_voice, settings=get_settings(), now=utc_now())
    assert len(cloud.calls) == 1 and cloud.sent == []


def test_the_command_line_imports_know_a_countys_languages(tmp_path: Path) -> None:
    catalogs = tmp_path / "catalogs"
    catalogs.mkdir()
    (catalogs / "ky.po").write_text('msgid "收到"\nmsgstr "ئالدىم"\n', encoding="utf-8")
    env = {**os.environ, "JIAOYING_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db",
           "JIAOYING_CATALOG_DIR": str(catalogs)}  # fmt: skip

    def jiaoying(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "app.cli", *arguments], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip

    assert jiaoying("migrate").returncode == 0
    assert jiaoying("regions", "import", "--builtin", "650107").returncode == 0
    roster = tmp_path / "roster.csv"
    roster.write_text("name,phone,region_code,role,rank,channels,language\n王建国,13900000001,650107001001,主任,1,sms,ky\n",
                      encoding="utf-8")  # fmt: skip
    imported = jiaoying("contacts", "import", str(roster))
    assert imported.returncode == 0, imported.stderr + imported.stdout
