"""GET /api/v1/warnings/{id}/cap: a schema-valid CAP 1.2 alert for any warning (Alert, Update or
Cancel as it stands), which ingests back to the same warning."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from lxml import etree

from app.auth.service import Principal
from app.cap import mapping, parse, xsd
from app.cap.export import category_of
from app.db import session_scope, utc_now
from app.warning import lifecycle
from app.warning import service as warning_service
from app.warning.schemas import WarningIn
from tests.cap.documents import CAP_FIXTURES, fixture, post_cap
from tests.factories import OTHER_TOWNSHIP, TOWNSHIP, VILLAGE, bearer, create_key, issue, process_plan, roster

NS = {"cap": xsd.CAP_NS}
OFFICIAL = etree.XMLSchema(etree.parse(str(CAP_FIXTURES / "CAP-v1.2.xsd")))
SENDER_CODE = "65010741600000"


async def exported(client: AsyncClient, warning_id: str) -> tuple[bytes, etree._Element]:
    response = await client.get(f"/api/v1/warnings/{warning_id}/cap")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/cap+xml"
    root = etree.fromstring(response.content)
    assert OFFICIAL.validate(root), OFFICIAL.error_log
    return response.content, root


def text(root: etree._Element, path: str) -> str:
    found = root.findtext(path, namespaces=NS)
    assert found is not None, path
    return found


def whole_second(hours: float) -> datetime:
    return (utc_now() + timedelta(hours=hours)).replace(microsecond=0)


async def test_export_is_valid_cap_carrying_the_warning(client: AsyncClient, regions: None) -> None:
    await roster(client)
    times = {"onset": whole_second(1).isoformat(), "expires": whole_second(6).isoformat()}
    fields = {"hazard": "暴雨", "level": "orange", "title": "达坂城区暴雨橙色预警", "description": "山洪可能发生"}
    warning = await issue(client, **fields, **times, area_codes=[VILLAGE, OTHER_TOWNSHIP])
    _, root = await exported(client, warning["id"])
    created = datetime.fromisoformat(warning["created_at"]).replace(microsecond=0)
    assert text(root, "cap:identifier") == warning["id"] and text(root, "cap:sender") == "jiaoying@127.0.0.1"
    assert text(root, "cap:sent").endswith("+08:00")
    assert datetime.fromisoformat(text(root, "cap:sent")) == created
    assert [text(root, f"cap:{name}") for name in ("status", "msgType", "scope")] == ["Actual", "Alert", "Public"]
    info = root.find("cap:info", NS)
    assert info is not None
    said = [text(info, f"cap:{name}") for name in ("language", "category", "event", "urgency", "severity")]
    assert said == ["zh-CN", "Met", "暴雨", "Expected", "Severe"]
    assert text(info, "cap:headline") == "达坂城区暴雨橙色预警" and text(info, "cap:description") == "山洪可能发生"
    assert text(info, "cap:expires").endswith("+08:00")
    assert (text(info, "cap:parameter/cap:valueName"), text(info, "cap:parameter/cap:value")) == ("预警级别", "橙色")
    areas = [
        (text(a, "cap:areaDesc"), text(a, "cap:geocode/cap:valueName"), text(a, "cap:geocode/cap:value"))
        for a in info.findall("cap:area", NS)
    ]
    assert areas == [
        ("工人新村社区居委会", "CPEAS Geographic Code", VILLAGE),
        ("乌拉泊街道", "CPEAS Geographic Code", OTHER_TOWNSHIP),
    ]


@pytest.mark.parametrize(
    ("level", "mode"), [("red", "actual"), ("orange", "exercise"), ("yellow", "test"), ("blue", "actual")]
)
async def test_round_trip_gives_back_the_same_warning(
    client: AsyncClient, regions: None, level: str, mode: str
) -> None:
    fields = {"level": level, "mode": mode, "description": "说明", "area_codes": [TOWNSHIP, VILLAGE]}
    fields |= {"onset": whole_second(0.5).isoformat(), "expires": whole_second(3).isoformat()}
    warning = await issue(client, **fields)
    body, root = await exported(client, warning["id"])
    assert text(root, "cap:status") == {"actual": "Actual", "exercise": "Exercise", "test": "Test"}[mode]
    (mapped,) = mapping.warnings_of(parse.read_alert(body, max_bytes=10**6))
    keys = ("hazard", "level", "title", "description", "instruction", "area_codes", "onset", "expires", "mode")
    original = WarningIn.model_validate({key: warning[key] for key in keys})
    assert mapped.data == original and mapped.level_from == "parameter"
    again = await post_cap(client, body)
    assert again.status_code == 200 and again.json()["id"] == warning["id"]
    # From another sender (a hub relaying it), the same alert issues an equal warning.
    relayed = body.replace(b"jiaoying@127.0.0.1", b"hub.example.cn")
    copy = await post_cap(client, relayed)
    assert copy.status_code == 201, copy.text
    assert {key: copy.json()[key] for key in keys} == {key: warning[key] for key in keys}


async def test_an_ingested_warning_exports_and_comes_back_to_itself(client: AsyncClient, regions: None) -> None:
    warning = (await post_cap(client, fixture("dabancheng_rainstorm_alert.xml"))).json()
    body, root = await exported(client, warning["id"])
    assert text(root, "cap:info/cap:event") == "暴雨" and text(root, "cap:info/cap:parameter/cap:value") == "橙色"
    again = await post_cap(client, body)
    assert again.status_code == 200 and again.json()["id"] == warning["id"]


async def test_an_update_exports_as_update_referencing_the_old_alert(client: AsyncClient, regions: None) -> None:
    old = await issue(client, level="orange")
    response = await client.post(
        f"/api/v1/warnings/{old['id']}/update",
        json={"hazard": "大风", "level": "red", "title": "升级", "area_codes": [TOWNSHIP]},
    )
    new = response.json()
    body, root = await exported(client, new["id"])
    _, old_root = await exported(client, old["id"])
    assert text(root, "cap:msgType") == "Update"
    assert text(root, "cap:references") == f"jiaoying@127.0.0.1,{old['id']},{text(old_root, 'cap:sent')}"
    assert text(old_root, "cap:msgType") == "Alert" and text(old_root, "cap:note") == f"已更新，见 {new['id']}"
    assert text(old_root, "cap:info/cap:urgency") == "Past"
    again = await post_cap(client, body)
    assert again.status_code == 200 and again.json()["id"] == new["id"]


async def test_a_cancelled_warning_exports_as_cancel(client: AsyncClient, regions: None) -> None:
    warning = await issue(client)
    await client.post(f"/api/v1/warnings/{warning['id']}/cancel", json={"reason": "发错区域", "kind": "withdrawn"})
    body, root = await exported(client, warning["id"])
    issued_sent = datetime.fromisoformat(warning["created_at"]).replace(microsecond=0)
    assert (text(root, "cap:msgType"), text(root, "cap:identifier")) == ("Cancel", f"{warning['id']}.cancel")
    sender, identifier, sent = text(root, "cap:references").split(",")
    assert (sender, identifier, datetime.fromisoformat(sent)) == ("jiaoying@127.0.0.1", warning["id"], issued_sent)
    assert text(root, "cap:note") == "撤回：发错区域" and text(root, "cap:info/cap:urgency") == "Past"
    again = await post_cap(client, body)
    assert again.status_code == 200 and again.json()["id"] == warning["id"]


@pytest.fixture
def gb_sender(app: FastAPI) -> Iterator[str]:
    settings = app.state.settings
    app.state.settings = settings.model_copy(
        update={
            "cap_sender": "达坂城区应急管理局",
            "cap_sender_code": SENDER_CODE,
            "cap_sender_name": "达坂城区应急管理局",
        }
    )
    yield SENDER_CODE
    app.state.settings = settings


async def test_identifiers_follow_gb_t_35965_with_a_sender_code(
    client: AsyncClient, regions: None, gb_sender: str
) -> None:
    # Two warnings and a cancellation in one second: the identifiers still differ, and each leads back.
    now = datetime(2026, 11, 23, 8, 30, 15, 250_000, tzinfo=UTC)
    data = WarningIn(hazard="大风", level="yellow", title="大风黄色预警", area_codes=[TOWNSHIP])
    async with session_scope() as session:
        first, _ = await warning_service.issue_warning(
            session, data, principal=Principal("值班员", "admin"), idempotency_key=None, now=now, fanout_above=10**9
        )
        second, _ = await warning_service.issue_warning(
            session,
            data,
            principal=Principal("值班员", "admin"),
            idempotency_key=None,
            now=now + timedelta(milliseconds=100),
            fanout_above=10**9,
        )
        await lifecycle.cancel_warning(
            session,
            first,
            reason="",
            kind="lifted",
            actor="值班员",
            plan=process_plan(),
            now=now + timedelta(milliseconds=200),
        )
    first_body, first_root = await exported(client, first.id)
    second_body, second_root = await exported(client, second.id)
    assert text(first_root, "cap:identifier") == f"{gb_sender}_20261123163015_3"  # its Cancel, third that second
    assert (
        text(first_root, "cap:references") == f"达坂城区应急管理局,{gb_sender}_20261123163015,2026-11-23T16:30:15+08:00"
    )
    assert text(second_root, "cap:identifier") == f"{gb_sender}_20261123163015_2"
    assert text(second_root, "cap:sent") == "2026-11-23T16:30:15+08:00"
    assert text(second_root, "cap:info/cap:senderName") == "达坂城区应急管理局"
    for body, warning_id in ((first_body, first.id), (second_body, second.id)):
        again = await post_cap(client, body)
        assert again.status_code == 200 and again.json()["id"] == warning_id


async def test_export_is_read_with_the_warning_s_scope(client: AsyncClient, regions: None) -> None:
    warning = await issue(client, area_codes=[VILLAGE])
    auditor = bearer(await create_key(client, "auditor"))
    elsewhere = bearer(await create_key(client, "duty_officer", OTHER_TOWNSHIP))
    assert (await client.get(f"/api/v1/warnings/{warning['id']}/cap", headers=auditor)).status_code == 200
    assert (await client.get(f"/api/v1/warnings/{warning['id']}/cap", headers=elsewhere)).status_code == 403
    assert (await client.get("/api/v1/warnings/nope/cap")).status_code == 404


@pytest.mark.parametrize(
    ("hazard", "category"),
    [("暴雨", "Met"), ("山洪", "Met"), ("台风", "Met"), ("地震", "Geo"), ("森林火险", "Fire"), ("停水", "Other")],
)
def test_hazards_fall_in_cap_categories(hazard: str, category: str) -> None:
    assert category_of(hazard) == category
