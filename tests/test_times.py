"""Times at the edges of the calendar, or without an offset, are a 422 with a sentence, never a 500."""

import pytest
from httpx import AsyncClient

from tests.conftest import ADMIN_TOKEN
from tests.factories import VILLAGE, create_contact, warning_body
from tests.web.pages import sign_in

EDGES = ["2026-01-01T00:00:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00Z", "2300-01-01T00:00:00+08:00"]


@pytest.mark.parametrize("moment", EDGES)
@pytest.mark.parametrize(
    "path", ["/api/v1/reports/response", "/api/v1/reports/unreached", "/api/v1/audit/events", "/api/v1/warnings"]
)
async def test_a_time_parameter_out_of_range_or_without_offset_is_422(
    client: AsyncClient, regions: None, path: str, moment: str
) -> None:
    for name in ("since", "until"):
        if path == "/api/v1/warnings" and name == "until":
            continue
        response = await client.get(path, params={name: moment, "region_code": "650107"})
        assert response.status_code == 422, (path, name, moment, response.text)
        assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("moment", EDGES)
async def test_a_warning_time_out_of_range_is_422(client: AsyncClient, regions: None, moment: str) -> None:
    await create_contact(client)
    for name in ("onset", "expires"):
        response = await client.post("/api/v1/warnings", json=warning_body(area_codes=[VILLAGE], **{name: moment}))
        assert response.status_code == 422, (name, moment, response.text)
    assert (await client.get("/api/v1/warnings")).json()["items"] == []


async def test_a_far_away_report_period_on_the_console_is_refused(anonymous: AsyncClient, regions: None) -> None:
    await sign_in(anonymous, ADMIN_TOKEN)
    page = await anonymous.get("/console/reports", params={"since": "0001-01-01", "until": "9999-12-31"})
    assert page.status_code == 422 and "1970" in page.text


@pytest.mark.parametrize("sent", ["0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-14:00"])
async def test_a_cap_time_out_of_range_is_422(client: AsyncClient, regions: None, sent: str) -> None:
    from tests.cap.documents import alert, moment, post_cap

    body = alert(sent=moment()).decode()
    start = body.index("<sent>") + len("<sent>")
    body = body[:start] + sent + body[body.index("</sent>") :]
    response = await post_cap(client, body.encode())
    assert response.status_code == 422, response.text
    assert "1970" in response.json()["detail"]
