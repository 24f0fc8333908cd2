"""POST /api/v1/warnings/cap: Alert issues, Update supersedes and Cancel cancels what `references`
names; the same identifier again answers with the same warning; mode, areas and scope as in JSON."""

import asyncio
import re
from datetime import timedelta

import pytest
from httpx import AsyncClient

from app.cap import parse
from app.cap.identity import cap_time
from app.db import utc_now
from app.times import BEIJING
from tests.cap.documents import (
    CAP_FIXTURES,
    SENDER,
    alert,
    area,
    cpeas,
    fixture,
    info,
    moment,
    post_cap,
    reference,
)
from tests.conftest import ADMIN_TOKEN
from tests.factories import COUNTY, OTHER_TOWNSHIP, TOWNSHIP, bearer, calls, create_key, roster
from tests.web.pages import sign_in


async def warnings(client: AsyncClient) -> list[dict]:
    return (await client.get("/api/v1/warnings")).json()["items"]


async def test_alert_issues_a_warning_from_its_cap_fields(client: AsyncClient, regions: None) -> None:
    phones = await roster(client)
    sent = moment()
    start = utc_now().replace(microsecond=0)
    onset, expires = start + timedelta(hours=1), start + timedelta(hours=6)
    response = await post_cap(
        client, fixture("dabancheng_rainstorm_alert.xml", sent=sent, onset=cap_time(onset), expires=cap_time(expires))
    )
    assert response.status_code == 201, response.text
    warning = response.json()
    assert (warning["hazard"], warning["level"]) == ("暴雨", "orange")
    assert (warning["mode"], warning["status"]) == ("actual", "active")
    assert warning["title"] == "达坂城区气象台发布暴雨橙色预警[Ⅱ级/严重]"
    assert warning["instruction"] == "停止户外作业，转移山洪沟道和低洼地带人员。"
    assert warning["description"].startswith("预计未来6小时内达坂城区")
    assert warning["area_codes"] == [COUNTY]  # 650107 in the alert, as its 12-digit code
    assert warning["onset"] == onset.isoformat().replace("+00:00", "Z")
    assert warning["expires"] == expires.isoformat().replace("+00:00", "Z")
    assert warning["calls"]["total"] == len({p for ps in phones.values() for p in ps})
    timeline = (await client.get(f"/api/v1/warnings/{warning['id']}/timeline")).json()["items"]
    received = [event for event in timeline if event["type"] == "cap.received"]
    assert received[0]["data"]["sender"] == "Dabancheng_District_Meteorological_Observatory"
    assert received[0]["data"]["msg_type"] == "Alert" and "warning.issued" in {e["type"] for e in timeline}


async def test_the_same_identifier_again_returns_the_same_warning(client: AsyncClient, regions: None) -> None:
    await roster(client)
    body = fixture("dabancheng_rainstorm_alert.xml")
    first = await post_cap(client, body)
    again = await post_cap(client, body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["calls"] == first.json()["calls"]
    assert len(await warnings(client)) == 1


async def test_copies_arriving_together_make_one_warning(client: AsyncClient, regions: None) -> None:
    body = fixture("dabancheng_rainstorm_alert.xml")
    responses = await asyncio.gather(*(post_cap(client, body) for _ in range(4)))
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert len(await warnings(client)) == 1


async def test_update_supersedes_the_warning_its_references_name(client: AsyncClient, regions: None) -> None:
    await roster(client)
    first_sent = moment()
    old = (await post_cap(client, fixture("dabancheng_rainstorm_alert.xml", sent=first_sent))).json()
    body = fixture("dabancheng_rainstorm_update.xml", references=reference(first_sent))
    response = await post_cap(client, body)
    assert response.status_code == 201, response.text
    new = response.json()
    assert new["supersedes"] == old["id"] and new["level"] == "red" and new["area_codes"] == [TOWNSHIP]
    assert new["calls"]["total"] > 0
    before = (await client.get(f"/api/v1/warnings/{old['id']}")).json()
    assert before["status"] == "superseded" and before["superseded_by"] == new["id"]
    again = await post_cap(client, body)
    assert again.status_code == 200 and again.json()["id"] == new["id"]


async def test_update_naming_only_the_first_alert_updates_the_warning_in_force(
    client: AsyncClient, regions: None
) -> None:
    first = moment()
    await post_cap(client, fixture("dabancheng_rainstorm_alert.xml", sent=first))
    second = (await post_cap(client, alert(msg_type="Update", references=reference(first)))).json()
    third = await post_cap(client, fixture("dabancheng_rainstorm_update.xml", references=reference(first)))
    assert third.status_code == 201 and third.json()["supersedes"] == second["id"]


async def test_cancel_lifts_the_warning_its_references_lead_to(client: AsyncClient, regions: None) -> None:
    await roster(client)
    alert_sent, update_sent = moment(), moment()
    await post_cap(client, fixture("dabancheng_rainstorm_alert.xml", sent=alert_sent))
    updated = await post_cap(
        client, fixture("dabancheng_rainstorm_update.xml", sent=update_sent, references=reference(alert_sent))
    )
    body = fixture("dabancheng_rainstorm_cancel.xml", references=f"{reference(alert_sent)} {reference(update_sent)}")
    response = await post_cap(client, body)
    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert cancelled["id"] == updated.json()["id"] and cancelled["status"] == "cancelled"
    assert (cancelled["close_kind"], cancelled["close_reason"]) == ("lifted", "降雨已减弱，解除暴雨预警")
    assert set(cancelled["calls"]["by_status"]) == {"cancelled"}
    again = await post_cap(client, body)
    assert again.status_code == 200 and again.json()["id"] == cancelled["id"]


async def test_cancel_for_a_warning_issued_in_error_withdraws_it(client: AsyncClient, regions: None) -> None:
    sent = moment()
    await post_cap(client, alert(sent=sent))
    response = await post_cap(client, alert(msg_type="Cancel", references=reference(sent), note="误发，撤回此预警"))
    assert response.status_code == 200 and response.json()["close_kind"] == "withdrawn"


async def test_cancelling_a_closed_warning_is_a_conflict(client: AsyncClient, regions: None) -> None:
    sent = moment()
    await post_cap(client, alert(sent=sent))
    assert (await post_cap(client, alert(msg_type="Cancel", references=reference(sent)))).status_code == 200
    again = await post_cap(client, alert(msg_type="Cancel", references=reference(sent)))
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]


@pytest.mark.parametrize("msg_type", ["Update", "Cancel"])
async def test_a_message_naming_no_reference_is_refused(client: AsyncClient, regions: None, msg_type: str) -> None:
    no_references = await post_cap(client, alert(msg_type=msg_type))
    assert no_references.status_code == 422 and "<references>" in no_references.json()["detail"]
    assert no_references.json()["errors"][0]["loc"] == ["body", "alert", "references"]
    assert await warnings(client) == []


@pytest.mark.parametrize(("status", "mode"), [("Exercise", "exercise"), ("Test", "test")])
async def test_exercise_and_test_status_become_the_warning_mode(
    client: AsyncClient, regions: None, status: str, mode: str
) -> None:
    await roster(client)
    response = await post_cap(client, alert(status=status))
    assert response.status_code == 201 and response.json()["mode"] == mode
    made = await calls(client, response.json()["id"])
    assert made and all((call["status"] == "cancelled") == (mode == "test") for call in made)


@pytest.mark.parametrize("status", ["System", "Draft"])
async def test_system_and_draft_messages_are_not_warnings(client: AsyncClient, regions: None, status: str) -> None:
    response = await post_cap(client, alert(status=status))
    assert response.status_code == 422 and f"status {status} is not a warning" in response.json()["detail"]


async def test_ack_and_error_messages_change_nothing(client: AsyncClient, regions: None) -> None:
    response = await post_cap(client, alert(msg_type="Ack", references=reference(moment())))
    assert response.status_code == 422 and "A CAP Ack message changes no warning" in response.json()["detail"]


async def test_the_zh_cn_info_block_is_preferred(client: AsyncClient, regions: None) -> None:
    response = await post_cap(client, fixture("dabancheng_gale_en_zh.xml"))
    assert response.status_code == 201
    warning = response.json()
    assert (warning["hazard"], warning["level"]) == ("大风", "yellow")
    assert warning["title"] == "达坂城区气象台发布大风黄色预警[Ⅲ级/较重]"
    assert warning["instruction"] == "加固围板、棚架，停止高空和户外作业。"


async def test_info_blocks_of_one_language_join_their_areas(client: AsyncClient, regions: None) -> None:
    both = alert(info(areas=(cpeas("650107001000"),)), info(areas=(cpeas("650107004000"),)))
    response = await post_cap(client, both)
    assert response.status_code == 201 and response.json()["area_codes"] == ["650107001000", "650107004000"]
    differ = alert(info(), info(event="大风", areas=(cpeas("650107004000"),)), sent=moment())
    two = await post_cap(client, differ)  # two hazards in one message: a warning each
    assert two.status_code == 201 and len(two.json()["warnings"]) == 2


@pytest.mark.parametrize(
    ("headline", "severity", "level"),
    [
        ("达坂城区气象台发布暴雨Ⅱ级预警", "Minor", "orange"),
        ("达坂城区大风黄色预警", "Extreme", "yellow"),
        ("乌鲁木齐市气象台发布暴雪蓝色预警信号", "Severe", "blue"),
        ("达坂城区气象台发布暴雨预警[Ⅰ级/特别严重]", "Minor", "red"),
        ("Dabancheng District Meteorological Observatory issues orange warning for gale", "Minor", "orange"),
        ("Yuanshi County updates warning for flash flood disasters [Level IV/General]", "Extreme", "blue"),
        # A change of level names the old one first; the warning is at the one it changed to.
        ("蓬莱区气象台将高温橙色预警信号升级为高温红色预警信号", "Minor", "red"),
        ("达坂城区气象台将大风黄色预警降级为蓝色预警", "Extreme", "blue"),
        ("暴雨预警由Ⅲ级调整为Ⅱ级预警", "Minor", "orange"),
    ],
)
async def test_level_from_the_headline_when_no_parameter_states_it(
    client: AsyncClient, regions: None, headline: str, severity: str, level: str
) -> None:
    response = await post_cap(client, alert(info(headline=headline, severity=severity, parameters=())))
    assert response.status_code == 201, response.text
    assert response.json()["level"] == level and response.json()["title"] == headline


@pytest.mark.parametrize(
    ("severity", "level"), [("Extreme", "red"), ("Severe", "orange"), ("Moderate", "yellow"), ("Minor", "blue")]
)
async def test_level_from_severity_when_nothing_chinese_states_it(
    client: AsyncClient, regions: None, severity: str, level: str
) -> None:
    response = await post_cap(client, alert(info(headline="Heavy rain warning", severity=severity, parameters=())))
    assert response.status_code == 201 and response.json()["level"] == level


async def test_the_level_parameter_wins_over_severity_and_headline(client: AsyncClient, regions: None) -> None:
    stated = info(headline="暴雨蓝色预警", severity="Minor", parameters=(("预警级别", "橙色"),))
    response = await post_cap(client, alert(stated))
    assert response.status_code == 201 and response.json()["level"] == "orange"


async def test_no_headline_gives_a_title_from_event_and_level(client: AsyncClient, regions: None) -> None:
    response = await post_cap(client, alert(info(headline=None)))
    assert response.status_code == 201 and response.json()["title"] == "暴雨橙色预警"


async def test_an_alert_stating_no_level_is_refused(client: AsyncClient, regions: None) -> None:
    response = await post_cap(client, alert(info(headline="Rain", severity="Unknown", parameters=())))
    assert response.status_code == 422 and "states no level" in response.json()["detail"]


async def test_areas_without_a_cpeas_code_are_named(client: AsyncClient, regions: None) -> None:
    areas = (
        cpeas("650107001000", "艾维尔沟街道"),
        area("柴窝堡湖周边", polygon="43.50,87.90 43.55,88.00 43.45,88.05 43.50,87.90"),
        area("达坂城风区", ("SAME", "006109")),
    )
    response = await post_cap(client, alert(info(areas=areas)))
    assert response.status_code == 422
    problem = response.json()
    assert "柴窝堡湖周边: a polygon without a CPEAS Geographic Code" in problem["detail"]
    assert "达坂城风区: only geocodes of scheme SAME" in problem["detail"]
    assert [e["loc"] for e in problem["errors"]] == [
        ["body", "alert", "info", 0, "area", 1],
        ["body", "alert", "info", 0, "area", 2],
    ]
    assert await warnings(client) == []


@pytest.mark.parametrize(
    ("code", "message"),
    [("110101", "region 110101000000 is unknown"), ("65010", "'65010' is not 6 or 12 digits")],
)
async def test_geocodes_that_are_no_region_here_are_named(
    client: AsyncClient, regions: None, code: str, message: str
) -> None:
    response = await post_cap(client, alert(info(areas=(cpeas("650107"), cpeas(code, "某地")))))
    assert response.status_code == 422 and message in response.json()["detail"]
    assert response.json()["errors"][0]["loc"] == ["body", "alert", "info", 0, "area", 1]


async def test_scope_and_roles_are_those_of_the_json_api(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    township_officer = bearer(await create_key(client, "duty_officer", OTHER_TOWNSHIP))
    county_officer = bearer(await create_key(client, "duty_officer", COUNTY))
    auditor = bearer(await create_key(client, "auditor"))
    sent = moment()
    body = alert(sent=sent)
    assert (await post_cap(anonymous, body)).status_code == 401
    assert (await post_cap(client, body, auditor)).status_code == 403
    assert (await post_cap(client, body, township_officer)).status_code == 403
    issued = await post_cap(client, body, county_officer)
    assert issued.status_code == 201 and issued.json()["created_by"] == "值班员"
    again = await post_cap(client, body, township_officer)  # another's alert, already taken: still not yours
    assert again.status_code == 403 and issued.json()["id"] not in again.text
    assert (await post_cap(client, body, county_officer)).status_code == 200
    cancel = alert(msg_type="Cancel", references=reference(sent))
    assert (await post_cap(client, cancel, township_officer)).status_code == 403
    assert (await post_cap(client, cancel, county_officer)).status_code == 200


async def test_a_body_that_is_not_xml_by_type_is_refused(client: AsyncClient, regions: None) -> None:
    response = await client.post("/api/v1/warnings/cap", content=alert(), headers={"Content-Type": "application/json"})
    assert response.status_code == 415 and "application/cap+xml" in response.json()["detail"]
    plain = await client.post("/api/v1/warnings/cap", content=alert(), headers={"Content-Type": "application/xml"})
    assert plain.status_code == 201


async def test_elements_out_of_the_schemas_order_are_taken_and_the_slips_kept(
    client: AsyncClient, regions: None
) -> None:
    # Derived from the committed fixture: <sent> after <status>, <expires> after <headline>, and an
    # element CAP does not know, as real feeds (MoWaS, Alertswiss, RHMS) write them.
    body = fixture("dabancheng_rainstorm_alert.xml").decode()
    sent = re.search(r"\s*<sent>[^<]*</sent>", body)
    expires = re.search(r"\s*<expires>[^<]*</expires>", body)
    assert sent and expires
    body = body.replace(sent.group(0), "").replace("<scope>", sent.group(0).strip() + "<scope>")
    body = body.replace(expires.group(0), "").replace("</headline>", "</headline>" + expires.group(0).strip())
    body = body.replace("</status>", "</status><office>达坂城区气象台</office>")
    response = await post_cap(client, body.encode())
    assert response.status_code == 201, response.text
    assert response.json()["expires"] is not None
    events = (await client.get(f"/api/v1/warnings/{response.json()['id']}/timeline")).json()["items"]
    (received,) = [event for event in events if event["type"] == "cap.received"]
    slips = " ".join(received["data"]["deviations"])
    assert "<sent> out of the schema's order in <alert>" in slips
    assert "<expires> out of the schema's order in <info>" in slips and "<office> is no CAP element" in slips


@pytest.mark.parametrize(
    ("name", "msg_type"),
    [
        ("30_de_mowas_cancel_9-languages_447KB.xml", "Cancel"),
        ("32_ch_alertswiss_all-clear_misordered.xml", "Alert"),
        ("34_rs_rhms_thunderstorm_update_3-languages.xml", "Update"),
    ],
)
def test_real_alerts_with_elements_out_of_order_are_read(name: str, msg_type: str) -> None:
    message = parse.read_alert((CAP_FIXTURES / "real-feeds" / name).read_bytes(), max_bytes=10**7)
    assert message.msg_type == msg_type and message.deviations
    assert all(deviation.startswith("line ") for deviation in message.deviations)


async def test_the_source_alert_is_kept_shown_and_exported(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    sent = moment()
    effective = f"<certainty>Likely</certainty><effective>{cap_time(sent)}</effective>".encode()
    body = alert(info(onset=None), sent=sent).replace(b"<certainty>Likely</certainty>", effective)
    warning = (await post_cap(client, body)).json()
    assert warning["onset"] is not None  # effective, where the message says no onset
    assert warning["cap_source"]["sender"] == SENDER and warning["cap_source"]["identifier"].endswith(
        f"{sent.astimezone(BEIJING):%Y%m%d%H%M%S}"
    )
    exported = (await client.get(f"/api/v1/warnings/{warning['id']}/cap")).text
    assert "<valueName>source_alert</valueName>" in exported and warning["cap_source"]["identifier"] in exported
    assert "<references>" not in exported  # an Alert of ours: it updates nothing
    await sign_in(anonymous, ADMIN_TOKEN)
    board = (await anonymous.get(f"/console/warnings/{warning['id']}")).text
    assert f"来源：{SENDER}" in board and warning["cap_source"]["identifier"] in board
