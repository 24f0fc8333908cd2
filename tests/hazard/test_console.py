"""The console's hazard pages without a browser: a report taken by phone through the form, the
board with its clock, the whistle, handling and resolution, and an evaluation taken by phone."""

import re
from datetime import timedelta

from httpx import AsyncClient

from app.db import utc_now
from app.hazard import chase
from tests.factories import COUNTY, VILLAGE, create_key
from tests.hazard.test_chain import people
from tests.web.pages import csrf_of, sign_in


async def test_a_duty_officer_runs_a_report_through_the_console(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    who = await people(client)
    await sign_in(anonymous, await create_key(client, "duty_officer", COUNTY))
    form = await anonymous.get("/console/hazards/new")
    assert form.status_code == 200
    fields = {"csrf": csrf_of(form), "region_code": VILLAGE, "category": "河水上涨", "description": "河水漫过便桥",
              "people_at_risk": "30", "source": "phone", "reporter_name": "村民王某", "reporter_phone": ""}  # fmt: skip
    bad = await anonymous.post("/console/hazards/new", data=fields | {"category": ""})
    assert bad.status_code == 422 and "类别" in bad.text
    taken = await anonymous.post("/console/hazards/new", data=fields)
    assert taken.status_code == 303
    hazard_id = taken.headers["location"].split("/")[-1].split("?")[0]
    board = await anonymous.get("/console/hazards")
    assert "河水上涨" in board.text and "待接报" in board.text and "时限 1小时" in board.text
    page = await anonymous.get(f"/console/hazards/{hazard_id}")
    assert page.status_code == 200 and "街道书记" in page.text and "险情报告" in page.text
    token = csrf_of(page)

    whistle = {
        "csrf": token,
        "department_ids": [who["water_dept"]["id"]],
        "instruction": "派人巡查",
        "deadline_min": "20",
    }
    assert (await anonymous.post(f"/console/hazards/{hazard_id}/whistle", data=whistle)).status_code == 303
    none = await anonymous.post(f"/console/hazards/{hazard_id}/whistle", data={"csrf": token, "deadline_min": "20"})
    assert none.status_code == 422 and "至少选择一个部门" in none.text
    again = await anonymous.post(f"/console/hazards/{hazard_id}/whistle", data=whistle)
    assert again.status_code == 409  # already dispatched: the step is not taken from there
    await chase.chase_due(now=utc_now() + timedelta(minutes=21))
    page = await anonymous.get(f"/console/hazards/{hazard_id}")
    assert "水利局" in page.text and "未报到，已上报督办" in page.text and "上报督办" in page.text
    no_note = await anonymous.post(f"/console/hazards/{hazard_id}/progress", data={"csrf": token, "status": "resolved"})
    assert no_note.status_code == 422 and "note" in no_note.text
    done = {"csrf": token, "status": "resolved", "note": "已加固便桥"}
    assert (await anonymous.post(f"/console/hazards/{hazard_id}/progress", data=done)).status_code == 303
    rated = {"csrf": token, "rating": "satisfied", "note": "电话回访满意"}
    assert (await anonymous.post(f"/console/hazards/{hazard_id}/evaluation", data=rated)).status_code == 303
    page = await anonymous.get(f"/console/hazards/{hazard_id}")
    assert "已评价" in page.text and "电话回访满意" in page.text
    assert re.search(r"末端评价</td><td>[^<]*</td><td>满意", page.text)
    closed = await anonymous.get("/console/hazards", params={"show": "closed"})
    assert "河水上涨" in closed.text
