"""The one error family and the handlers that render every error as problem+json."""

import logging
from http import HTTPStatus
from typing import Any

from asyncpg import exceptions as asyncpg_errors
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import logs

log = logging.getLogger(__name__)
# PostgreSQL starting up, shutting down or full, as asyncpg says it.
DRIVER_UNAVAILABLE: tuple[type[Exception], ...] = (
    asyncpg_errors.CannotConnectNowError,
    asyncpg_errors.TooManyConnectionsError,
    asyncpg_errors.ConnectionFailureError,
    asyncpg_errors.AdminShutdownError,
    asyncpg_errors.CrashShutdownError,
    asyncpg_errors.ConnectionDoesNotExistError,
)

PROBLEM_JSON = "application/problem+json"


class AppError(Exception):
    """An expected failure with an HTTP status and a sentence a person can act on."""

    status = 400

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        self.errors = errors
        self.headers = headers


class Unauthorized(AppError):
    status = 401

    def __init__(self, detail: str = "Send a valid API key as 'Authorization: Bearer <token>'.") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status = 403


class NotFound(AppError):
    status = 404


class Conflict(AppError):
    status = 409


class Gone(AppError):
    status = 410


class PayloadTooLarge(AppError):
    status = 413


class Unprocessable(AppError):
    status = 422


def invalid_body(exc: ValidationError, what: str = "The request body") -> Unprocessable:
    """A 422 naming each field of a body that failed validation."""
    errors = [{"loc": ["body", *error["loc"]], "msg": error["msg"]} for error in exc.errors()]
    return Unprocessable(f"{what} is not valid: {errors[0]['msg']}.", errors=errors)


class ServiceUnavailable(AppError):
    status = 503


def problem(
    status: int,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response (RFC 9457)."""
    body: dict[str, Any] = {"title": HTTPStatus(status).phrase, "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    request_id = logs.request_id.get()
    if request_id is not None:  # quoted in a report, it finds the request's log lines and events
        body["request_id"] = request_id
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [{"loc": list(error.get("loc", ())), "msg": error.get("msg", "invalid")} for error in exc.errors()]


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return problem(exc.status, exc.detail, errors=exc.errors, headers=exc.headers)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).description
    if exc.status_code == 400 and detail == "There was an error parsing the body":
        # Not UTF-8, or nested past any sense: the body is malformed, which the contract makes a 422.
        return problem(422, "The request body could not be read: send UTF-8 JSON of a reasonable depth.")
    if exc.status_code == 404 and exc.detail == "Not Found":
        detail = "There is nothing at this address; check the path against the API documentation."
    elif exc.status_code == 405:
        detail = "This address does not accept that method; check the API documentation."
    return problem(exc.status_code, detail, headers=getattr(exc, "headers", None))


async def _request_invalid(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _validation_errors(exc)
    first = errors[0] if errors else {"loc": [], "msg": "invalid"}
    where = ".".join(str(part) for part in first["loc"])
    detail = f"The request is not valid: {where}: {first['msg']}." if where else "The request is not valid."
    return problem(422, detail, errors=errors)


async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s: %s", exc.__class__.__name__, exc)
    return problem(503, "The database is unavailable; retry in a few seconds.", headers={"Retry-After": "5"})


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return problem(500, "Something went wrong on our side; the request was not applied. Retry, or report it.")


def install_error_handlers(app: FastAPI) -> None:
    """Route every error, ours and the framework's, through problem+json."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(PoolTimeoutError, _database_unavailable)
    app.add_exception_handler(ConnectionError, _database_unavailable)
    app.add_exception_handler(OSError, _database_unavailable)
    for unavailable in DRIVER_UNAVAILABLE:  # raised bare while connecting, not wrapped by SQLAlchemy
        app.add_exception_handler(unavailable, _database_unavailable)
    app.add_exception_handler(IntegrityError, _conflict)
    app.add_exception_handler(DataError, _data_invalid)
    app.add_exception_handler(DBAPIError, _dbapi_error)
    app.add_exception_handler(Exception, _unexpected)


async def _conflict(_: Request, exc: Exception) -> JSONResponse:
    # A unique key lost to a concurrent request: the same change arrived twice at once.
    log.info("write conflict: %s", exc)
    return problem(409, "This conflicts with a change made at the same moment; read the current state and retry.")


async def _data_invalid(_: Request, exc: Exception) -> JSONResponse:
    # Input the database cannot hold, such as a NUL character in text.
    log.info("data refused by the database: %s", exc)
    return problem(422, "The request holds characters or values the service cannot store (such as a NUL byte).")


async def _dbapi_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if exc.connection_invalidated:
        return await _database_unavailable(request, exc)
    # Drivers do not always raise the specific class; PostgreSQL's SQLSTATE class says what it was.
    sqlstate = str(getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or "")
    if sqlstate.startswith("22"):
        return await _data_invalid(request, exc)
    if sqlstate.startswith("23"):
        return await _conflict(request, exc)
    return await _unexpected(request, exc)


PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["title", "status", "detail"],
    "properties": {
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "A sentence a person can act on."},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "msg": {"type": "string"},
                },
            },
        },
        "request_id": {"type": "string", "description": "Finds the request's log lines and events."},
    },
}


def document_problems(app: FastAPI) -> None:
    """Publish what errors really look like: every operation answers 4XX and 5XX with problem+json
    (instead of the framework's application/json validation error)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
            for schemas in ("HTTPValidationError", "ValidationError"):
                schema["components"]["schemas"].pop(schemas, None)
            problem_ref = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
            for address, path in schema.get("paths", {}).items():
                refused = dict(problem_ref)
                if address.startswith("/ack/"):  # a person's browser gets a page saying the same
                    refused["text/html"] = {"schema": {"type": "string"}}
                for operation in path.values():
                    responses = operation.setdefault("responses", {})
                    responses.pop("422", None)
                    responses["4XX"] = {"description": "Refused: the detail says why.", "content": refused}
                    responses["5XX"] = {"description": "Unavailable for now: retry.", "content": problem_ref}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
