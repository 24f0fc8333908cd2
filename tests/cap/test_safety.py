"""Hostile and broken CAP bodies: each a clear 4xx (problem+json), nothing read from disk or the
network, nothing created."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from app.cap import parse, safe_xml
from app.config import Settings
from app.errors import PayloadTooLarge
from app.main import create_app
from tests.cap.documents import CAP_FIXTURES, CAP_XML, alert, area, info, post_cap
from tests.conftest import ADMIN_TOKEN

SECRET = "jiaoying-xxe-canary-6c1f"
NS = 'xmlns="urn:oasis:names:tc:emergency:cap:1.2"'


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET)
    return path


async def refused(client: AsyncClient, body: bytes, status: int = 422) -> dict:
    response = await post_cap(client, body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert SECRET not in response.text
    assert (await client.get("/api/v1/warnings")).json()["items"] == []
    return response.json()


async def test_external_entity_is_refused_unread(client: AsyncClient, regions: None, secret_file: Path) -> None:
    body = (
        alert()
        .replace(b"<alert ", f'<!DOCTYPE alert [<!ENTITY x SYSTEM "file://{secret_file}">]>\n<alert '.encode())
        .replace(b"<scope>Public</scope>", b"<scope>Public</scope><note>&x;</note>")
    )
    problem = await refused(client, body)
    assert "DTDs are not accepted" in problem["detail"]


async def test_billion_laughs_is_refused(client: AsyncClient, regions: None) -> None:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">' for n in range(1, 10)
    )
    body = f'<?xml version="1.0"?><!DOCTYPE alert [{entities}]><alert {NS}><identifier>&lol9;</identifier></alert>'
    problem = await refused(client, body.encode())
    assert "DTDs are not accepted" in problem["detail"]


async def test_external_dtd_is_refused(client: AsyncClient, regions: None, secret_file: Path) -> None:
    body = alert().replace(b"<alert ", f'<!DOCTYPE alert SYSTEM "file://{secret_file}">\n<alert '.encode())
    assert "DTDs are not accepted" in (await refused(client, body))["detail"]


async def test_utf16_doctype_is_refused_too(client: AsyncClient, regions: None) -> None:
    text = alert().decode().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    body = text.replace("<alert ", '<!DOCTYPE alert [<!ENTITY x "y">]><alert ').encode("utf-16")
    assert "DTDs are not accepted" in (await refused(client, body))["detail"]


async def test_xinclude_is_not_processed(client: AsyncClient, regions: None, secret_file: Path) -> None:
    include = f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{secret_file}" parse="text"/>'
    body = alert().replace(b"<scope>Public</scope>", f"<scope>Public</scope>{include}".encode())
    taken = await post_cap(client, body)  # an element CAP does not know is set aside, never followed
    assert taken.status_code == 201, taken.text
    timeline = (await client.get(f"/api/v1/warnings/{taken.json()['id']}/timeline")).text
    assert SECRET not in taken.text and SECRET not in timeline and "include" in timeline


async def test_an_undeclared_entity_is_malformed(client: AsyncClient, regions: None) -> None:
    body = alert().replace(b"<scope>Public</scope>", b"<scope>Public</scope><note>&nbsp;</note>")
    problem = await refused(client, body)
    assert "not well-formed XML" in problem["detail"] and "nbsp" in problem["detail"]


async def test_a_20_mb_body_is_too_large(client: AsyncClient, regions: None) -> None:
    body = alert().replace(b"<scope>Public</scope>", b"<scope>Public</scope><note>" + b"x" * 20_000_000 + b"</note>")
    problem = await refused(client, body, status=413)
    assert "limit" in problem["detail"]


@pytest.fixture
def small_cap_limit(app: FastAPI) -> Iterator[int]:
    settings = app.state.settings
    app.state.settings = settings.model_copy(update={"cap_max_bytes": 2_000})
    yield 2_000
    app.state.settings = settings


async def test_the_cap_limit_applies_below_the_json_limit(
    client: AsyncClient, regions: None, small_cap_limit: int
) -> None:
    body = alert().replace(b"<scope>Public</scope>", b"<scope>Public</scope><note>" + b"x" * 2_000 + b"</note>")
    problem = await refused(client, body, status=413)
    assert "2,000-byte limit for CAP messages" in problem["detail"]
    with pytest.raises(PayloadTooLarge):
        parse.read_alert(body, max_bytes=small_cap_limit)


@pytest.mark.parametrize(
    ("namespace", "named"),
    [
        ('xmlns="urn:oasis:names:tc:emergency:cap:1.1"', "namespace 'urn:oasis:names:tc:emergency:cap:1.1'"),
        ("", "no namespace"),
    ],
)
async def test_another_namespace_is_refused(client: AsyncClient, regions: None, namespace: str, named: str) -> None:
    body = alert().replace(NS.encode(), namespace.encode())
    problem = await refused(client, body)
    assert "not a CAP 1.2 alert" in problem["detail"] and named in problem["detail"]


async def test_another_root_element_is_refused(client: AsyncClient, regions: None) -> None:
    problem = await refused(client, f'<?xml version="1.0"?><feed {NS}/>'.encode())
    assert "the root element is <feed>" in problem["detail"]


@pytest.mark.parametrize("written", ["2026-11-23T10:00:00", "2026-11-23T10:00:00Z", "2026-11-23T10:00:00.5+08:00"])
async def test_a_sent_time_without_its_offset_is_refused(client: AsyncClient, regions: None, written: str) -> None:
    body = alert()
    start = body.index(b"<sent>") + len(b"<sent>")
    body = body[:start] + written.encode() + body[body.index(b"</sent>") :]
    problem = await refused(client, body)
    assert f"<sent> '{written}' is not a CAP time" in problem["detail"] and "+08:00" in problem["detail"]
    assert problem["errors"][0]["loc"] == ["body", "alert", "sent"]


async def test_an_expiry_without_its_offset_names_its_info_block(client: AsyncClient, regions: None) -> None:
    body = alert()
    start = body.index(b"<expires>") + len(b"<expires>")
    body = body[:start] + b"2026-11-23T18:00:00" + body[body.index(b"</expires>") :]
    problem = await refused(client, body)
    assert problem["errors"][0]["loc"] == ["body", "alert", "info", 0, "expires"]


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"", "is empty"),
        (b"   \n", "is empty"),
        (b"<alert", "not well-formed XML"),
        (b"not xml at all", "not well-formed XML"),
    ],
)
async def test_broken_bodies_are_refused(client: AsyncClient, regions: None, body: bytes, said: str) -> None:
    assert said in (await refused(client, body))["detail"]


async def test_schema_violations_are_named(client: AsyncClient, regions: None) -> None:
    body = alert().replace(b"<severity>Severe</severity>", b"<severity>Catastrophic</severity>")
    problem = await refused(client, body)
    assert "not valid CAP 1.2" in problem["detail"] and "severity" in problem["detail"]
    assert "Catastrophic" in problem["errors"][0]["msg"] and problem["errors"][0]["loc"][:2] == ["body", "line"]
    # A required element Jiaoying needs, missing: named. One it does not use (scope): taken, on record.
    no_sender = alert().replace(b"<sender>", b"<senderX>").replace(b"</sender>", b"</senderX>")
    assert "sender" in (await refused(client, no_sender))["detail"]
    no_scope = await post_cap(client, alert().replace(b"<scope>Public</scope>", b""))
    assert no_scope.status_code == 201, no_scope.text


@pytest.mark.parametrize("before", ["<!-- 见 <b>附件</b> -->", "<!--" + "x" * 70_000 + "-->"])
async def test_a_doctype_past_the_first_look_is_refused_once_parsed(
    client: AsyncClient, regions: None, before: str
) -> None:
    body = alert().replace(b"<alert ", f'{before}<!DOCTYPE alert [<!ENTITY x "y">]>\n<alert '.encode())
    assert "DTDs are not accepted" in (await refused(client, body))["detail"]


async def test_markup_quoted_in_cdata_is_only_text(client: AsyncClient, regions: None) -> None:
    quoted = "<description><![CDATA[<!DOCTYPE html><p>山洪</p>]]></description><instruction>"
    body = alert(info(description=None)).replace(b"<instruction>", quoted.encode())
    response = await post_cap(client, body)
    assert response.status_code == 201, response.text
    assert response.json()["description"] == "<!DOCTYPE html><p>山洪</p>"


async def test_a_cap_limit_above_the_json_limit_takes_effect(migrated: str, regions: None) -> None:
    """A county's alert with a detailed polygon can pass 1 MB: JIAOYING_CAP_MAX_BYTES decides, not the
    general JSON limit; past the general limit only a caller with a key may send it."""
    settings = Settings(database_url=migrated, admin_token=ADMIN_TOKEN, scheduler="off", cap_max_bytes=3_000_000)
    points = " ".join(f"43.{i:06d},88.{i:06d}" for i in range(90_000)) + " 43.000000,88.000000"
    body = alert(info(areas=(area("达坂城区", ("CPEAS Geographic Code", "650107"), polygon=points),)))
    assert 1_500_000 < len(body) < 3_000_000
    transport = ASGITransport(app=create_app(settings))
    async with AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        keyless = await http.post("/api/v1/warnings/cap", content=body, headers=CAP_XML)
        assert keyless.status_code == 401 and keyless.headers["content-type"] == "application/problem+json"
        headers = CAP_XML | {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        taken = await http.post("/api/v1/warnings/cap", content=body, headers=headers)
        assert taken.status_code == 201, taken.text
        too_large = body.replace(
            b"<scope>Public</scope>", b"<scope>Public</scope><note>" + b"x" * 1_600_000 + b"</note>"
        )
        refused = await http.post("/api/v1/warnings/cap", content=too_large, headers=headers)
        assert refused.status_code == 413 and "3,000,000-byte limit" in refused.json()["detail"]


async def test_an_html_error_page_in_place_of_an_alert_is_said_to_be_no_xml(client: AsyncClient) -> None:
    # Real: a feed host's 404 page (XHTML with its DOCTYPE) that a client saved as the alert.
    page = (CAP_FIXTURES / "real-feeds" / "14_tw_fifows_html-error-page_saved-as-cap.cap").read_bytes()
    problem = await refused(client, page)
    assert "HTML page, not XML" in problem["detail"] and "DTD" not in problem["detail"]
    with pytest.raises(safe_xml.NotXml):
        parse.read_alert(b"<html><body>502 Bad Gateway</body></html>", max_bytes=10_000)
