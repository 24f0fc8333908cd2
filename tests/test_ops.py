"""Health, readiness, metrics, and the one problem+json shape for every error."""

import asyncio
import io
import json
import logging

import pytest
from alembic import command
from httpx import ASGITransport, AsyncClient

from app import db, logs
from app.config import Settings
from app.main import create_app
from tests.conftest import ADMIN_TOKEN, alembic_config
from tests.factories import CSV, calls, issue, roster, send_all

PROBLEM = "application/problem+json"


async def _client_for(url: str) -> AsyncClient:
    app = create_app(Settings(database_url=url, admin_token=ADMIN_TOKEN, scheduler="off", db_timeout_s=2))
    return AsyncClient(transport=ASGITransport(app=app), base_url="http://127.0.0.1")


async def _restore(app_url: str) -> None:
    db.configure(app_url)


async def test_healthz_and_readyz_when_migrated(anonymous: AsyncClient) -> None:
    assert (await anonymous.get("/healthz")).json() == {"status": "ok"}
    ready = await anonymous.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


async def test_readyz_is_503_when_not_migrated(tmp_path, migrated: str) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/empty.db"
    async with await _client_for(url) as http:
        response = await http.get("/readyz")
    await _restore(migrated)
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    assert "alembic upgrade head" in response.json()["detail"]


async def test_readyz_is_503_after_a_downgrade(tmp_path, migrated: str) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/old.db"
    await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
    await asyncio.to_thread(command.downgrade, alembic_config(url), "base")
    async with await _client_for(url) as http:
        response = await http.get("/readyz")
    await _restore(migrated)
    assert response.status_code == 503


async def test_database_down_gives_503_not_500(migrated: str) -> None:
    url = "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere"  # nothing listens on port 1
    async with await _client_for(url) as http:
        ready = await http.get("/readyz")
        api = await http.get("/api/v1/regions/650107", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    await _restore(migrated)
    assert ready.status_code == 503
    assert api.status_code == 503
    assert api.headers["content-type"] == PROBLEM
    assert "database" in api.json()["detail"]


async def test_metrics_are_prometheus_text(anonymous: AsyncClient) -> None:
    await anonymous.get("/healthz")
    response = await anonymous.get("/metrics")
    assert response.status_code == 200
    assert 'jiaoying_http_requests_total{method="GET",route="/healthz",status="200"}' in response.text


async def test_unknown_path_is_problem_json(client: AsyncClient) -> None:
    response = await client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert set(response.json()) >= {"title", "status", "detail"}


async def test_wrong_method_is_problem_json(client: AsyncClient) -> None:
    response = await client.put("/healthz")
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM


async def test_malformed_json_is_422_problem(client: AsyncClient) -> None:
    response = await client.post(
        "/api/v1/keys", content=b'{"name": "x", "role":', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    body = response.json()
    assert response.headers["content-type"] == PROBLEM
    assert body["errors"] and body["errors"][0]["loc"][0] == "body"


async def test_oversized_json_body_is_413(client: AsyncClient) -> None:
    response = await client.post("/api/v1/keys", content=json.dumps({"name": "x" * 2_000_000}))
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert (await client.get("/api/v1/keys")).json()["items"] == []


async def test_oversized_streamed_body_is_413(client: AsyncClient) -> None:
    async def chunks():
        for _ in range(30):
            yield b"x" * 100_000

    response = await client.post("/api/v1/keys", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413


async def test_wrong_content_type_for_import_is_415(client: AsyncClient) -> None:
    response = await client.post("/api/v1/regions/import", json={"code": "650000"})
    assert response.status_code == 415
    assert response.headers["content-type"] == PROBLEM


async def test_openapi_document_is_served(anonymous: AsyncClient) -> None:
    document = (await anonymous.get("/openapi.json")).json()
    assert "/api/v1/regions/import" in document["paths"]
    assert CSV["Content-Type"] in document["paths"]["/api/v1/regions/import"]["post"]["requestBody"]["content"]


async def test_oversized_import_is_413_and_writes_nothing(migrated: str) -> None:
    app = create_app(Settings(database_url=migrated, admin_token=ADMIN_TOKEN, max_import_bytes=1000))
    transport = ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", **CSV}
    body = b"code,name,level,parent_code\n" + b"650000,\xe6\x96\xb0\xe7\x96\x86,province,\n" * 100
    async with AsyncClient(transport=transport, base_url="http://127.0.0.1", headers=headers) as http:
        response = await http.post("/api/v1/regions/import", content=body)
        assert response.status_code == 413
        assert response.headers["content-type"] == PROBLEM
        assert (await http.get("/api/v1/regions/650000")).status_code == 404


async def test_a_request_id_ties_the_answer_to_the_logs(client: AsyncClient) -> None:
    refused = await client.post("/api/v1/warnings", json={"level": "purple"})
    assert refused.status_code == 422
    assert refused.json()["request_id"] == refused.headers["x-request-id"]
    kept = await client.get("/api/v1/nowhere", headers={"X-Request-ID": "gw-20261123-0001"})
    assert kept.headers["x-request-id"] == "gw-20261123-0001" == kept.json()["request_id"]
    odd = await client.get("/healthz", headers={"X-Request-ID": "<script>" * 20})
    assert odd.headers["x-request-id"] != "<script>" * 20 and len(odd.headers["x-request-id"]) == 20


def test_log_lines_are_json_with_the_request_id() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("jiaoying.test")
    logger.addHandler(handler)
    token = logs.request_id.set("req-1")
    try:
        logger.warning("网关超时 %s", "sms")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
    finally:
        logs.request_id.reset(token)
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{"))
    assert first["message"] == "网关超时 sms" and first["level"] == "warning" and first["request_id"] == "req-1"
    assert second["message"] == "failed" and "ValueError: boom" in second["error"]


async def test_metrics_count_the_chain(client: AsyncClient, anonymous: AsyncClient, regions: None) -> None:
    await roster(client)
    warning = await issue(client)
    await send_all()
    first = (await calls(client, warning["id"]))[0]
    await client.post(f"/api/v1/calls/{first['id']}/ack", json={"method": "phone", "note": "电话联系上"})
    text = (await anonymous.get("/metrics")).text
    for name in (
        'jiaoying_calls_created_total{kind="alert"}',
        'jiaoying_calls_acknowledged_total{method="manual"}',
        "jiaoying_time_to_acknowledge_seconds_count",
        'jiaoying_messages_total{channel="sms",provider="console",status="sent"}',
        "jiaoying_http_request_duration_seconds_bucket",
    ):
        assert name in text, name
    created = next(line for line in text.splitlines() if line.startswith('jiaoying_calls_created_total{kind="alert"}'))
    assert float(created.split()[-1]) >= warning["calls"]["total"]


def test_log_lines_never_carry_an_acknowledgement_token_or_a_callback_secret() -> None:
    import logging

    from app import logs

    token = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-"
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', (
            "127.0.0.1:5000", "POST", f"/ack/{token}/feedback", "1.1", 201), None,
    )  # fmt: skip
    for formatter in (logs.JsonFormatter(), logs.TextFormatter()):
        line = formatter.format(record)
        assert token not in line and "/ack/…/feedback" in line
    kannel = logs.redact("GET /api/v1/providers/kannel/s3cr3t-value-123/mo?from=1 HTTP/1.1")
    assert "s3cr3t" not in kannel and "/api/v1/providers/kannel/…/mo" in kannel
    assert logs.redact("POST /api/v1/providers/webhook/receipts") == "POST /api/v1/providers/webhook/receipts"
    assert "13800138000" not in kannel and "/mo?from=…" in kannel


async def test_a_body_that_is_not_utf8_or_too_deep_is_422(client: AsyncClient) -> None:
    for body in (b'{"hazard": "\xff\xfe"}', b"[" * 100_000 + b"]" * 100_000):
        response = await client.post("/api/v1/warnings", content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 422, response.text[:200]
        assert response.headers["content-type"] == PROBLEM


async def test_a_policy_deadline_under_a_second_is_refused(client: AsyncClient) -> None:
    policy = {"reach": ["village"], "ack_timeout_s": 1e-300, "max_attempts": 1, "channels_by_attempt": [["sms"]],
              "escalate": False}  # fmt: skip
    assert (await client.put("/api/v1/policies/blue", json=policy)).status_code == 422


def test_a_key_file_that_cannot_be_written_is_named_at_start(app, tmp_path, monkeypatch) -> None:
    from app.call import tokens
    from app.config import get_settings

    settings = get_settings()
    monkeypatch.setattr(settings, "secret_key", None)
    monkeypatch.setattr(settings, "secret_file", str(tmp_path / "missing-dir" / "jiaoying.secret"))
    tokens.configure(settings)
    try:
        with pytest.raises(RuntimeError, match="JIAOYING_SECRET_FILE"):
            tokens.check_secret()
    finally:
        tokens.configure(app.state.settings)
