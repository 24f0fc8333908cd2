"""The duty pages without a browser: who may see and change what, a form saved unchanged is no
change, and the form's bad input answered with a page."""

import re
from datetime import timedelta

from httpx import AsyncClient

from app.db import utc_now
from tests.duty.test_duty import county_office, shift
from tests.factories import COUNTY, CSV, OTHER_TOWNSHIP, create_key, csv_body
from tests.web.pages import csrf_of, sign_in

OTHER_COUNTY = "650109000000"


def _form_rows(page: str) -> dict[str, list[str]]:
    """The roster form's fields as the browser would send them (selects: their selected option)."""
    fields: dict[str, list[str]] = {name: [] for name in ("starts_at", "ends_at", "starts_exact", "ends_exact")}
    for name, value in re.findall(r'name="(starts_at|ends_at|starts_exact|ends_exact)" value="([^"]*)"', page):
        fields[name].append(value)
    for name in ("officer_id", "leader_id"):
        fields[name] = []
        for select in re.findall(rf'<select name="{name}".*?</select>', page, flags=re.S):
            chosen = re.search(r'<option value="([^"]*)" selected', select)
            fields[name].append(chosen.group(1) if chosen else "")
    return fields


async def test_a_form_saved_unchanged_keeps_the_shift_in_force(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    people = await county_office(client)
    now = utc_now()  # with seconds and microseconds, as an API client sends them
    night = shift(now - timedelta(hours=2), now + timedelta(hours=6, seconds=30), people["night"], people["leader"])
    (before,) = (await client.put(f"/api/v1/duty/{COUNTY}", json={"shifts": [night]})).json()["shifts"]
    await sign_in(anonymous, await create_key(client, "duty_officer", COUNTY))
    page = await anonymous.get(f"/console/duty/{COUNTY}")
    assert page.status_code == 200 and 'id="on-duty">夜班值班员' in page.text
    saved = await anonymous.post(f"/console/duty/{COUNTY}", data={"csrf": csrf_of(page), **_form_rows(page.text)})
    assert saved.status_code == 303, saved.text
    after = (await client.get(f"/api/v1/duty/{COUNTY}")).json()["current"]
    assert after["id"] == before["id"] and after["starts_at"] == before["starts_at"]
    assert after["ends_at"] == before["ends_at"] and after["leader_id"] == people["leader"]["id"]
    events = (await client.get("/api/v1/audit/events", params={"type": "duty.changed"})).json()["items"]
    assert len(events) == 1  # the API's; the unchanged form wrote nothing


async def test_the_form_names_each_rows_mistake(client: AsyncClient, anonymous: AsyncClient, regions: None) -> None:
    people = await county_office(client)
    await sign_in(anonymous, await create_key(client, "duty_officer", COUNTY))
    page = await anonymous.get(f"/console/duty/{COUNTY}", params={"fill": "week", "times": "08:00,09:00+05:00,x"})
    assert page.status_code == 200 and page.text.count('name="starts_at" value="2') >= 7
    rows = {
        "starts_at": ["2030-01-01T08:00", "2030-01-01T12:00", ""],
        "ends_at": ["2030-01-01T20:00", "2030-01-01T22:00", ""],
        "officer_id": [people["day"]["id"], people["night"]["id"], ""],
        "leader_id": ["", "", ""],
    }
    refused = await anonymous.post(f"/console/duty/{COUNTY}", data={"csrf": csrf_of(page), **rows})
    assert refused.status_code == 422 and refused.text.count("与第") == 2 and "值班表未保存" in refused.text
    assert (await client.get(f"/api/v1/duty/{COUNTY}")).json()["next"] == []
    note = await anonymous.post(f"/console/duty/{COUNTY}/handover", data={"csrf": csrf_of(page), "note": "a\x07b"})
    assert note.status_code == 422 and "控制字符" in note.text
    assert (await client.get("/api/v1/audit/events", params={"type": "duty.handover"})).json()["items"] == []


async def test_another_countys_officer_can_neither_read_nor_change_its_roster(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    lines = ["code,name,level,parent_code", f"{OTHER_COUNTY},米东区,county,650100000000"]
    assert (await client.post("/api/v1/regions/import", content=csv_body(*lines), headers=CSV)).status_code == 200
    people = await county_office(client)
    now = utc_now()
    night = shift(now - timedelta(hours=2), now + timedelta(hours=6), people["night"])
    assert (await client.put(f"/api/v1/duty/{COUNTY}", json={"shifts": [night]})).status_code == 200
    assert (await client.post(f"/api/v1/duty/{COUNTY}/handover", json={"note": "秘密事项"})).status_code == 201
    await sign_in(anonymous, await create_key(client, "duty_officer", OTHER_COUNTY))
    home = await anonymous.get("/console")
    assert (await anonymous.get(f"/console/duty/{COUNTY}")).status_code == 403
    form = {"csrf": csrf_of(home), "starts_at": [], "ends_at": [], "officer_id": [], "leader_id": []}
    assert (await anonymous.post(f"/console/duty/{COUNTY}", data=form)).status_code == 403
    note = {"csrf": csrf_of(home), "note": "x"}
    assert (await anonymous.post(f"/console/duty/{COUNTY}/handover", data=note)).status_code == 403
    assert (await client.get(f"/api/v1/duty/{COUNTY}")).json()["current"]["id"]  # untouched


async def test_a_township_sees_who_is_on_duty_above_it_but_not_what_is_open_there(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    people = await county_office(client)
    now = utc_now()
    night = shift(now - timedelta(hours=2), now + timedelta(hours=6), people["night"])
    assert (await client.put(f"/api/v1/duty/{COUNTY}", json={"shifts": [night]})).status_code == 200
    assert (await client.post(f"/api/v1/duty/{COUNTY}/handover", json={"note": "秘密事项"})).status_code == 201
    await sign_in(anonymous, await create_key(client, "duty_officer", OTHER_TOWNSHIP))
    page = await anonymous.get(f"/console/duty/{COUNTY}")
    assert page.status_code == 200 and "夜班值班员" in page.text
    assert "秘密事项" not in page.text and "保存值班表" not in page.text and "交班留言" not in page.text
