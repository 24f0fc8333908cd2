"""CAP as live feeds deliver it: out of order, after restarts, mid-event. An Update is a complete
message and calls the people it names even when its original never came; an original that arrives
after its Update or Cancel, or a message sent before what already changed its warning, calls
nobody and is recorded beside the warning in force; an Update after its warning closed is news.

The 蓬莱区 chain is a real China Meteorological Administration Update (real-feeds/01) with the
derived original and Cancel made from it (38, 39; see real-feeds/PROVENANCE.md), its times moved
to now as a feed would deliver them today."""

import re
from datetime import datetime, timedelta
from typing import Any

from httpx import AsyncClient

from app.cap import mapping, parse
from app.db import session_scope, utc_now
from app.warning import lifecycle
from tests.cap.documents import (
    CAP_FIXTURES,
    CAP_XML,
    alert,
    area,
    cpeas,
    identifier,
    info,
    moment,
    post_cap,
    reference,
)
from tests.factories import (
    CSV,
    OTHER_TOWNSHIP,
    VILLAGE,
    bearer,
    calls,
    create_contact,
    create_key,
    csv_body,
    outbox,
    process_plan,
    send_all,
)

REAL = CAP_FIXTURES / "real-feeds"
PENGLAI = "370614000000"
CAP_TIME = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d")
# The chain's own clock: its Update was sent at 2026-08-01 13:31 Beijing time.
CHAIN_SENT = datetime.fromisoformat("2026-08-01T13:31:00+08:00")


def real(name: str, *, shift: timedelta) -> bytes:
    """A real message with every time in it (sent, effective, expires, references) moved by `shift`."""

    def moved(found: re.Match[bytes]) -> bytes:
        moment = datetime.fromisoformat(found.group(0).decode()) + shift
        return moment.isoformat(timespec="seconds").encode()

    return CAP_TIME.sub(moved, next(REAL.glob(f"{name}_*")).read_bytes())


def today() -> timedelta:
    """The shift that puts the chain's Update a minute ago."""
    return (utc_now() - timedelta(minutes=1)) - CHAIN_SENT


async def penglai(client: AsyncClient) -> list[dict[str, Any]]:
    """蓬莱区 with two of its streets, and a person for each street and one for the district."""
    rows = ["code,name,level,parent_code", "370000000000,山东省,province,",
            "370600000000,烟台市,prefecture,370000000000", f"{PENGLAI},蓬莱区,county,370600000000",
            f"370614001000,登州街道,township,{PENGLAI}", f"370614002000,紫荆山街道,township,{PENGLAI}"]  # fmt: skip
    imported = await client.post("/api/v1/regions/import", content=csv_body(*rows), headers=CSV)
    assert imported.status_code == 200, imported.text
    return [await create_contact(client, code) for code in (PENGLAI, "370614001000", "370614002000")]


async def timeline(client: AsyncClient, warning_id: str) -> list[dict[str, Any]]:
    return (await client.get(f"/api/v1/warnings/{warning_id}/timeline", params={"limit": 1000})).json()["items"]


async def test_an_update_whose_original_never_came_calls_the_people_it_names(
    client: AsyncClient, regions: None
) -> None:
    people = await penglai(client)
    shift = today()
    update = await post_cap(client, real("01", shift=shift))  # a service started mid-event: no original
    assert update.status_code == 201, update.text
    warning = update.json()
    assert (warning["level"], warning["area_codes"]) == ("red", [PENGLAI])
    assert {c["contact"]["phone"] for c in await calls(client, warning["id"])} == {p["phone"] for p in people}
    (received,) = [e for e in await timeline(client, warning["id"]) if e["type"] == "cap.received"]
    assert received["data"]["outcome"] == "created"
    assert "37061441600000_20260727120039" in received["data"]["unresolved_references"][0]
    # Its original, arriving now, is older news: recorded beside the warning, nobody called again.
    original = await post_cap(client, real("38", shift=shift))
    assert original.status_code == 200 and original.json()["id"] == warning["id"]
    assert len(await calls(client, warning["id"])) == len(people)
    assert len((await client.get("/api/v1/warnings")).json()["items"]) == 1
    # The Cancel that follows lifts it and tells everyone called.
    await send_all()
    cancel = await post_cap(client, real("39", shift=shift))
    assert cancel.status_code == 200 and cancel.json()["status"] == "cancelled"
    await send_all()
    lifted = {m["to"] for m in await outbox(client, warning["id"]) if m["kind"] == "lifting"}
    assert lifted == {p["phone"] for p in people}


async def test_a_cancel_of_an_alert_never_received_is_recorded_and_its_alert_calls_nobody(
    client: AsyncClient, regions: None
) -> None:
    await penglai(client)
    shift = today()
    cancel = await post_cap(client, real("39", shift=shift))  # names the Update 01, never received
    assert cancel.status_code == 200 and cancel.json() == {
        "outcome": "recorded", "sender": "Penglai_District_Meteorological_Observatory",
        "identifier": "37061441600000_20260802100000", "msg_type": "Cancel", "warning": None,
    }  # fmt: skip
    late = await post_cap(client, real("01", shift=shift))  # the Update it cancelled, arriving after it
    assert late.status_code == 200 and late.json()["warning"] is None
    assert (await client.get("/api/v1/warnings")).json()["items"] == []
    events = (await client.get("/api/v1/audit/events", params={"type": "cap.received"})).json()["items"]
    assert [e["data"]["outcome"] for e in events] == ["recorded", "recorded"]


async def test_an_update_after_its_warning_ended_is_news(client: AsyncClient, regions: None) -> None:
    await create_contact(client)
    first = moment()
    original = (await post_cap(client, alert(info(areas=(cpeas(VILLAGE),)), sent=first))).json()
    async with session_scope() as session:  # it expires
        await lifecycle.expire_due(session, plan=process_plan(), now=utc_now() + timedelta(hours=7))
    assert (await client.get(f"/api/v1/warnings/{original['id']}")).json()["status"] == "expired"
    later = alert(info(areas=(cpeas(VILLAGE),)), msg_type="Update", references=reference(first))
    response = await post_cap(client, later)
    assert response.status_code == 201, response.text
    news = response.json()
    assert news["id"] != original["id"] and news["status"] == "active" and len(await calls(client, news["id"])) == 1
    (received,) = [e for e in await timeline(client, news["id"]) if e["type"] == "cap.received"]
    assert received["data"]["follows"] == original["id"]


async def test_an_update_sent_before_the_cancel_already_applied_calls_nobody(
    client: AsyncClient, regions: None
) -> None:
    await create_contact(client)
    first = moment()
    before_cancel, cancel_sent = moment(), moment()
    original = (await post_cap(client, alert(info(areas=(cpeas(VILLAGE),)), sent=first))).json()
    cancel = await post_cap(client, alert(msg_type="Cancel", sent=cancel_sent, references=reference(first)))
    assert cancel.status_code == 200 and cancel.json()["status"] == "cancelled"
    late = alert(info(areas=(cpeas(VILLAGE),)), msg_type="Update", sent=before_cancel, references=reference(first))
    response = await post_cap(client, late)
    assert response.status_code == 200 and response.json()["id"] == original["id"]
    assert len((await client.get("/api/v1/warnings")).json()["items"]) == 1
    assert len(await calls(client, original["id"])) == 1


async def test_an_older_update_arriving_after_a_newer_one_changes_nothing(client: AsyncClient, regions: None) -> None:
    await create_contact(client)
    first, older, newer = moment(), moment(), moment()
    await post_cap(client, alert(info(areas=(cpeas(VILLAGE),)), sent=first))
    red = info(areas=(cpeas(VILLAGE),), parameters=(("预警级别", "红色"),))
    applied = await post_cap(client, alert(red, msg_type="Update", sent=newer, references=reference(first)))
    assert applied.status_code == 201 and applied.json()["level"] == "red"
    blue = info(areas=(cpeas(VILLAGE),), parameters=(("预警级别", "蓝色"),))
    stale = await post_cap(client, alert(blue, msg_type="Update", sent=older, references=reference(first)))
    assert stale.status_code == 200 and stale.json()["id"] == applied.json()["id"]
    assert stale.json()["level"] == "red" and stale.json()["status"] == "active"
    events = await timeline(client, applied.json()["id"])
    assert [e["data"]["outcome"] for e in events if e["type"] == "cap.received"] == ["updated", "recorded"]


async def test_every_problem_of_a_message_is_named_at_once(client: AsyncClient, regions: None) -> None:
    # Derived: an Update of an alert never received (no longer a refusal), expired before it came,
    # one area placed by another scheme and one by a region code unknown here.
    past = utc_now() - timedelta(hours=3)
    areas = (cpeas(VILLAGE), cpeas("659999000000"), area("某区", ("SAME", "006113")))
    body = alert(info(areas=areas, expires=past), msg_type="Update", references=reference(moment(), sender="elsewhere"))
    problem = (await post_cap(client, body)).json()
    assert problem["status"] == 422 and "3 problems" in problem["detail"], problem
    said = " ".join(error["msg"] for error in problem["errors"])
    assert "expires is already past" in said and "region 659999000000 is unknown" in said and "SAME" in said
    assert (await client.get("/api/v1/warnings")).json()["items"] == []
    bad_times = alert().replace(b"<sent>", b"<sent>x").replace(b"</expires>", b"Z</expires>")
    both = (await post_cap(client, bad_times)).json()
    assert [error["loc"][-1] for error in both["errors"]] == ["sent", "expires"]


ORANGE = (("预警级别", "橙色"),)
RED = (("预警级别", "红色"),)


async def test_several_levels_in_one_alert_are_a_warning_each_and_its_update_and_cancel_apply_to_all(
    client: AsyncClient, regions: None
) -> None:
    # Derived, as real bureaus write them (CWA's heat alert: 橙, 橙, 黄 blocks for area groups): the
    # street at orange, one of its villages raised to red.
    street, village = "650107001000", "650107001001"
    people = {code: await create_contact(client, code) for code in (street, village, "650107001002")}
    first = moment()
    blocks = (info(areas=(cpeas(street),), parameters=ORANGE), info(areas=(cpeas(village),), parameters=RED))
    posted = await post_cap(client, alert(*blocks, sent=first))
    assert posted.status_code == 201, posted.text
    ids = posted.json()["warnings"]
    assert len(ids) == 2 and posted.json()["id"] == ids[0]
    made = [(await client.get(f"/api/v1/warnings/{id_}")).json() for id_ in ids]
    assert [(w["level"], w["area_codes"]) for w in made] == [("orange", [street]), ("red", [village])]
    assert {w["cap_source"]["identifier"] for w in made} == {made[0]["cap_source"]["identifier"]}
    assert len(await calls(client, ids[1])) == 1  # the red village's person
    await send_all()
    # The Update names the alert: both warnings give way to what it says (the whole street at red).
    update = alert(info(areas=(cpeas(street),), parameters=RED), msg_type="Update", references=reference(first))
    updated = await post_cap(client, update)
    assert updated.status_code == 201, updated.text
    new = updated.json()
    assert new["level"] == "red" and new["supersedes"] in ids
    for id_ in ids:
        old = (await client.get(f"/api/v1/warnings/{id_}")).json()
        assert old["status"] == "superseded" and old["superseded_by"] == new["id"]
    await send_all()
    # Everyone is still called by the update: nobody was told the warning had ended.
    assert [m for id_ in ids for m in await outbox(client, id_) if m["kind"] == "lifting"] == []
    assert {c["contact"]["phone"] for c in await calls(client, new["id"])} == {p["phone"] for p in people.values()}
    cancel = await post_cap(client, alert(msg_type="Cancel", references=reference(first)))
    assert cancel.status_code == 200 and cancel.json()["status"] == "cancelled"


def test_the_real_heat_alert_at_two_levels_maps_to_two_warnings() -> None:
    message = parse.read_alert(next(REAL.glob("07_*")).read_bytes(), max_bytes=10**6)
    described = mapping.warnings_of(message, mapping.Problems())
    assert [mapped.data.level for mapped in described] == ["orange", "yellow"]


async def test_the_national_platforms_codes_resolve_six_digit_twelve_digit_and_both(
    client: AsyncClient, regions: None
) -> None:
    # Derived, as 国家预警信息发布中心 feeds write areas: a Chongqing district by its 6-digit county
    # code, a Beijing district by both its 6-digit code and a 12-digit street code inside it.
    rows = ["code,name,level,parent_code", "500000000000,重庆市,province,",
            "500100000000,市辖区,prefecture,500000000000", "500101000000,万州区,county,500100000000",
            "110000000000,北京市,province,",
            "110100000000,市辖区,prefecture,110000000000", "110101000000,东城区,county,110100000000",
            "110101001000,东华门街道,township,110101000000"]  # fmt: skip
    assert (await client.post("/api/v1/regions/import", content=csv_body(*rows), headers=CSV)).status_code == 200
    both = area("东城区", ("CPEAS Geographic Code", "110101"), ("CPEAS Geographic Code", "110101001000"))
    response = await post_cap(client, alert(info(areas=(cpeas("500101", "万州区"), both))))
    assert response.status_code == 201, response.text
    assert response.json()["area_codes"] == ["500101000000", "110101000000", "110101001000"]


async def test_every_real_message_gets_a_clear_answer(client: AsyncClient, regions: None) -> None:
    """The forty real messages (times moved to today, as a feed delivers them): never a 500; each
    refusal is problem+json naming why."""
    await penglai(client)
    for path in sorted(REAL.glob("[0-9][0-9]_*")):
        body = real(path.name[:2], shift=today())
        response = await post_cap(client, body)
        assert response.status_code in (200, 201, 202, 413, 422), (path.name, response.text)
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json", path.name
            assert response.json()["detail"], path.name


async def active(client: AsyncClient) -> list[dict[str, Any]]:
    return (await client.get("/api/v1/warnings", params={"status": "active"})).json()["items"]


def village_alert(**fields: Any) -> bytes:
    return alert(info(areas=(cpeas(VILLAGE),), **fields.pop("info", {})), **fields)


async def test_a_missed_middle_update_arriving_late_closes_the_gap(client: AsyncClient, regions: None) -> None:
    # Derived from a chain that names only the message before: X, U1 (names X), U2 (names U1).
    await create_contact(client)
    x, u1, u2 = moment(), moment(), moment()
    first = (await post_cap(client, village_alert(sent=x))).json()
    assert (
        await post_cap(client, village_alert(msg_type="Update", sent=u2, references=reference(u1)))
    ).status_code == 201
    late = await post_cap(client, village_alert(msg_type="Update", sent=u1, references=reference(x)))
    assert late.status_code == 200
    (in_force,) = await active(client)  # the first gave way to the newest, nothing left behind
    assert in_force["id"] != first["id"]
    assert (await client.get(f"/api/v1/warnings/{first['id']}")).json()["superseded_by"] == in_force["id"]
    cancel = await post_cap(client, alert(msg_type="Cancel", references=reference(u2)))
    assert cancel.status_code == 200 and await active(client) == []


async def test_a_message_naming_one_never_received_leads_to_the_warning_it_made(
    client: AsyncClient, regions: None
) -> None:
    await create_contact(client)
    x = moment()  # never received
    made = (await post_cap(client, village_alert(msg_type="Update", references=reference(x)))).json()
    again = await post_cap(client, village_alert(msg_type="Update", references=reference(x)))
    assert again.status_code == 201 and again.json()["supersedes"] == made["id"]
    assert [w["id"] for w in await active(client)] == [again.json()["id"]]
    assert (await post_cap(client, alert(msg_type="Cancel", references=reference(x)))).status_code == 200
    assert await active(client) == []


async def test_another_regions_key_can_neither_silence_an_alert_nor_read_it(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    await create_contact(client)
    elsewhere = bearer(await create_key(client, "duty_officer", OTHER_TOWNSHIP))
    x = moment()
    # A township's key names the county's coming alert in a Cancel first: recorded, and ignored.
    body = alert(msg_type="Cancel", references=reference(x))
    assert (await anonymous.post("/api/v1/warnings/cap", content=body, headers=CAP_XML | elsewhere)).status_code == 200
    issued = await post_cap(client, village_alert(sent=x))
    assert issued.status_code == 201 and len(await calls(client, issued.json()["id"])) == 1
    # Nor does the overtaken path answer it with a warning outside its region.
    y, update = moment(), moment()
    assert (
        await post_cap(client, village_alert(msg_type="Update", sent=update, references=reference(y)))
    ).status_code == 201
    late = await anonymous.post("/api/v1/warnings/cap", content=village_alert(sent=y), headers=CAP_XML | elsewhere)
    assert late.status_code == 403


async def test_an_update_sent_at_the_same_second_as_the_cancel_loses(client: AsyncClient, regions: None) -> None:
    await create_contact(client)
    x, same = moment(), moment()
    await post_cap(client, village_alert(sent=x))
    await post_cap(client, alert(msg_type="Cancel", sent=same, references=reference(x)))
    update = village_alert(msg_type="Update", sent=same, references=reference(x))
    tie = await post_cap(client, update.replace(identifier(same).encode(), b"65010741600000_update_same_second"))
    assert tie.status_code == 200 and tie.json()["status"] == "cancelled" and await active(client) == []


async def test_two_hazards_at_one_level_are_each_superseded_by_their_own(client: AsyncClient, regions: None) -> None:
    await create_contact(client)
    x = moment()
    blocks = (info(areas=(cpeas(VILLAGE),)), info(event="大风", areas=(cpeas(VILLAGE),)))
    made = (await post_cap(client, alert(*blocks, sent=x))).json()["warnings"]
    updated = (await post_cap(client, alert(*blocks, msg_type="Update", references=reference(x)))).json()["warnings"]
    olds = [(await client.get(f"/api/v1/warnings/{id_}")).json() for id_ in made]
    news = [(await client.get(f"/api/v1/warnings/{id_}")).json() for id_ in updated]
    assert [(o["hazard"], o["superseded_by"]) for o in olds] == [(n["hazard"], n["id"]) for n in news]
    assert [n["supersedes"] for n in news] == made
