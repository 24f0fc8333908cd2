"""Operations: liveness, readiness (database reachable and migrated), Prometheus metrics, and the
guard every request passes (body limits, request id, counts and times)."""

import asyncio
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from fastapi import APIRouter, Response
from fastapi.responses import RedirectResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import logs
from app.config import SettingsDep
from app.db import get_database, utc_now
from app.errors import PayloadTooLarge, problem
from app.notify import health, providers

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"

router = APIRouter(tags=["operations"])

HTTP_REQUESTS = Counter("jiaoying_http_requests_total", "HTTP requests answered.", ["method", "route", "status"])
HTTP_SECONDS = Histogram("jiaoying_http_request_duration_seconds", "Time to answer a request.", ["method", "route"])


@lru_cache
def migration_head() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


async def database_revision(timeout_s: float = 3.0) -> str | None:
    """The revision the database is migrated to; raises if the database cannot be reached in time."""
    async with asyncio.timeout(timeout_s), get_database().read_engine.connect() as connection:
        try:
            return await connection.scalar(text("SELECT version_num FROM alembic_version"))
        except Exception:  # no alembic_version table: never migrated
            return None


@router.get("/", include_in_schema=False)
async def root() -> RedirectResponse:
    """The service's address in a browser leads to the console."""
    return RedirectResponse("/console", status_code=307)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(settings: SettingsDep) -> Response | dict[str, Any]:
    """Ready to serve: the database answers and is migrated to this code's head revision. Each
    channel is reported too: `degraded` while every provider of it is failing, `unavailable` when
    none is configured; still 200, for the API works without a gateway."""
    head = migration_head()
    try:
        revision = await database_revision()
    except Exception:
        return problem(503, "The database cannot be reached.", headers={"Retry-After": "5"})
    if revision != head:
        return problem(503, f"The database is at revision {revision}, not {head}; run 'alembic upgrade head'.")
    channels = await health.channel_states(providers.chains(settings), now=utc_now())
    degraded = [channel for channel, state in channels.items() if state == "degraded"]
    return {"status": "ready", "revision": revision or "", "channels": channels, "degraded": degraded}


@router.get("/metrics", response_class=Response)
async def metrics() -> Response:
    """Prometheus metrics."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class RequestGuard:
    """Refuses oversized bodies with 413 and counts and times every request."""

    def __init__(self, app: ASGIApp, *, max_json_bytes: int, max_import_bytes: int) -> None:
        self.app = app
        self.max_json_bytes = max_json_bytes
        self.max_import_bytes = max_import_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = logs.take_request_id(dict(scope["headers"]).get(b"x-request-id"))
        token = logs.request_id.set(request_id)
        try:
            await self._guarded(scope, receive, send, request_id)
        finally:
            logs.request_id.reset(token)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        limit = self.max_import_bytes if scope["path"].endswith("/import") else self.max_json_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = problem(413, f"The body is larger than the {limit:,}-byte limit for this address.")
            response.headers["x-request-id"] = request_id
            await response(scope, receive, send)
            return
        received = 0
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise PayloadTooLarge("body over the limit")
            return message

        status = 500

        async def observed_send(message: Message) -> None:
            nonlocal status
            if too_large:
                return  # whatever the app made of the cut-off body, the answer is 413 (below)
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", request_id.encode())]}
            await send(message)

        started = time.perf_counter()
        try:
            try:
                await self.app(scope, limited_receive, observed_send)
            except Exception:
                if not too_large:
                    raise
            if too_large:
                status = 413
                response = problem(413, f"The body is larger than the {limit:,}-byte limit for this address.")
                response.headers["x-request-id"] = request_id
                await response(scope, receive, send)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_REQUESTS.labels(scope["method"], route, str(status)).inc()
            HTTP_SECONDS.labels(scope["method"], route).observe(time.perf_counter() - started)
