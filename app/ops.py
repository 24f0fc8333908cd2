"""Operations: liveness, readiness (database reachable and migrated), Prometheus metrics, and the
guard every request passes (body limits, request id, counts and times)."""

import asyncio
import tempfile
import time
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

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


# The only addresses that take large, slow bodies (CSV files): read within the import's limits.
IMPORT_PATHS = frozenset({"/api/v1/regions/import", "/api/v1/contacts/import"})


class ClientGone(Exception):
    """The client went away before its body was complete."""


class RequestGuard:
    """Reads every request body whole, within a time and a size, before the application sees the
    request; refuses a body too large with 413 and one too slow with 408; counts and times every
    request.

    Reading first is what keeps one slow client from holding anyone else up: no route can start
    its unit of work (SQLite's write lock, a PostgreSQL connection) while a body trickles in.
    Bodies are kept in memory up to a few megabytes and on disk beyond (imports)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_json_bytes: int,
        max_import_bytes: int,
        body_timeout_s: float = 10.0,
        import_timeout_s: float = 600.0,
        limits: dict[str, int] | None = None,
    ) -> None:
        """`limits`: other addresses' own size limits for a POST (CAP alerts: JIAOYING_CAP_MAX_BYTES)."""
        self.app = app
        self.max_json_bytes = max_json_bytes
        self.max_import_bytes = max_import_bytes
        self.limits = {**(limits or {}), **dict.fromkeys(IMPORT_PATHS, max_import_bytes)}
        self.body_timeout_s = body_timeout_s
        self.import_timeout_s = import_timeout_s

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
        posting = scope["method"] == "POST"
        importing = posting and scope["path"] in IMPORT_PATHS
        limit = self.limits.get(scope["path"], self.max_json_bytes) if posting else self.max_json_bytes
        status = 500
        started = time.perf_counter()

        async def refuse(code: int, detail: str) -> None:
            nonlocal status
            status = code
            response = problem(code, detail, headers={"Connection": "close"})
            response.headers["x-request-id"] = request_id
            await response(scope, receive, send)

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", request_id.encode())]}
            await send(message)

        try:
            headers = dict(scope["headers"])
            if limit > self.max_json_bytes and not headers.get(b"authorization", b"").lower().startswith(b"bearer "):
                # Nobody without a key may make us hold a body past the general limit (an import for minutes).
                await refuse(401, "Send an API key (Authorization: Bearer ...) with a body this address takes large.")
                return
            declared = headers.get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                await refuse(413, f"The body is larger than the {limit:,}-byte limit for this address.")
                return
            timeout = self.import_timeout_s if importing else self.body_timeout_s
            try:
                async with asyncio.timeout(timeout):
                    body, size = await _read_body(receive, limit, memory=min(limit, 4_000_000))
            except TimeoutError:
                await refuse(408, f"The request body did not arrive within {timeout:g} s; send it again in one go.")
                return
            except PayloadTooLarge:
                await refuse(413, f"The body is larger than the {limit:,}-byte limit for this address.")
                return
            except ClientGone:
                status = 499  # nobody is left to answer
                return
            try:
                await self.app(scope, _replay(body, size, receive), observed_send)
            finally:
                body.close()
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_REQUESTS.labels(scope["method"], route, str(status)).inc()
            HTTP_SECONDS.labels(scope["method"], route).observe(time.perf_counter() - started)


async def _read_body(receive: Receive, limit: int, *, memory: int) -> tuple[IO[bytes], int]:
    """The whole body, in memory up to `memory` bytes and on disk beyond (imports), and its size."""
    body = tempfile.SpooledTemporaryFile(max_size=memory)  # noqa: SIM115 (closed by the caller)
    size = 0
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge("body over the limit")
            body.write(chunk)
            if not message.get("more_body", False):
                break
    except BaseException:
        body.close()
        raise
    body.seek(0)
    return body, size


def _replay(body: IO[bytes], size: int, receive: Receive) -> Receive:
    """A `receive` that hands the application the body already read, then waits for the client's
    disconnect as the server's own would."""
    done = False

    async def replayed() -> Message:
        nonlocal done
        if done:
            return await receive()
        chunk = body.read(1 << 16)
        done = body.tell() >= size
        return {"type": "http.request", "body": chunk, "more_body": not done}

    return replayed
