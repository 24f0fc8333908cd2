"""Logs: one JSON object a line when not on a terminal (for a collector), plain text on one; and the
request id that ties a request's log lines, its problem+json answer and the events it wrote."""

import json
import logging
import re
import secrets
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
# An id a caller or proxy sends (X-Request-ID) is kept when it is short and plain.
_ACCEPTABLE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


# Secrets that travel in paths: a person's acknowledgement link (/ack/<token>), and the secret a
# gateway's callbacks carry (/api/v1/providers/<name>/<secret>/). An access log keeps neither.
_SECRET_IN_PATH = re.compile(r"(/ack/|/r/|/api/v1/providers/[a-z0-9_-]+/)(?!receipts|inbound)[A-Za-z0-9_~.-]{8,}")


# What a phone said, and its number, as a gateway's callback carries them in its query.
_PERSONAL_IN_QUERY = re.compile(r"([?&](?:from|text)=)[^&\s\"]*")


def redact(message: str) -> str:
    """A log line with the secrets in its paths, and the phones and texts in callback queries,
    replaced by `…`."""
    return _PERSONAL_IN_QUERY.sub(r"\1…", _SECRET_IN_PATH.sub(r"\1…", message))


def take_request_id(sent: bytes | None) -> str:
    """The request's id: the caller's X-Request-ID when it is acceptable, else a new one."""
    if sent:
        text = sent.decode("latin-1")
        if _ACCEPTABLE_ID.fullmatch(text):
            return text
    return secrets.token_hex(10)


class JsonFormatter(logging.Formatter):
    """`{"at", "level", "logger", "message", "request_id"?, "error"?}`, one a line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        current = request_id.get()
        if current is not None:
            entry["request_id"] = current
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = redact(super().format(record))
        current = request_id.get()
        return f"{line} [request {current}]" if current else line


def configure(*, level: int = logging.INFO, json_lines: bool | None = None) -> None:
    """Send every logger, uvicorn's too, through one handler on stderr: JSON unless on a terminal."""
    use_json = not sys.stderr.isatty() if json_lines is None else json_lines
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per gateway request drowns the rest
