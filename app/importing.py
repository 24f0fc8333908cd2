"""CSV uploads: spooled to disk as they stream in, then read line by line with line numbers.

Imports check the whole file before writing anything, so the body is read twice; spooling keeps
memory flat whatever the file's size.
"""

import codecs
import contextlib
import csv
import hashlib
import itertools
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from starlette.requests import Request

from app.errors import AppError, PayloadTooLarge, Unprocessable

MAX_LISTED_ERRORS = 1000
MAX_FIELD = 10_000
# Tab, CR and LF are CSV's own; every other C0 control character is refused.
CONTROL_CHARACTERS = frozenset(chr(c) for c in range(32)) - {"\t", "\r", "\n"}
STRIP_CONTROL = {ord(c): None for c in CONTROL_CHARACTERS}
CSV_TYPES = ("text/csv", "application/csv", "text/plain", "application/octet-stream")


@dataclass
class Upload:
    """A spooled upload: the file, its size and its SHA-256 (recorded in the audit event)."""

    file: IO[bytes]
    size: int
    sha256: str

    def close(self) -> None:
        self.file.close()


async def spool_upload(request: Request, *, limit: int) -> Upload:
    """The request body in a temporary file (gunzipped if sent with Content-Encoding: gzip)."""
    content_type = request.headers.get("content-type", "text/csv").split(";")[0].strip().lower()
    if content_type not in CSV_TYPES:
        raise AppError(f"Send the file as text/csv, not {content_type}.", status=415)
    encoding = request.headers.get("content-encoding", "identity").lower()
    if encoding not in ("identity", "gzip"):
        raise AppError(f"Content-Encoding {encoding} is not supported; send identity or gzip.", status=415)
    inflater = zlib.decompressobj(wbits=31) if encoding == "gzip" else None
    spool = tempfile.SpooledTemporaryFile(max_size=4_000_000)  # noqa: SIM115 (returned to the caller)
    size = 0
    digest = hashlib.sha256()

    def take(data: bytes) -> None:
        nonlocal size
        size += len(data)
        if size > limit:
            raise PayloadTooLarge(f"The file is larger than the {limit:,}-byte limit; split it by region.")
        spool.write(data)
        digest.update(data)

    try:
        async for chunk in request.stream():
            if inflater is None:
                take(chunk)
                continue
            # Inflate in bounded steps, so a small bomb cannot expand in memory past the limit.
            data = inflater.decompress(chunk, limit - size + 1)
            take(data)
            while inflater.unconsumed_tail:
                take(inflater.decompress(inflater.unconsumed_tail, limit - size + 1))
        if inflater:
            take(inflater.flush())
    except zlib.error as exc:
        spool.close()
        raise Unprocessable("The body is not valid gzip; send it uncompressed or gzip it again.") from exc
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return Upload(file=spool, size=size, sha256=digest.hexdigest())


class Problems:
    """Bad lines found while checking a file, reported together as one 422."""

    def __init__(self) -> None:
        self.count = 0
        self.listed: list[dict[str, Any]] = []
        self.encoding = "utf-8"  # as the file was read (see _decoded_lines)

    def add(self, line: int, msg: str) -> None:
        self.count += 1
        if len(self.listed) < MAX_LISTED_ERRORS:
            self.listed.append({"loc": ["line", line], "msg": msg})

    def __bool__(self) -> bool:
        return self.count > 0

    def raise_if_any(self, what: str) -> None:
        if not self:
            return
        first = self.listed[0]
        shown = "" if self.count <= MAX_LISTED_ERRORS else f" (the first {MAX_LISTED_ERRORS} are listed)"
        read = "" if self.encoding == "utf-8" else f", read as {ENCODING_NAMES[self.encoding]} (it is not UTF-8)"
        raise Unprocessable(
            f"The {what} file{read} has {self.count} bad line(s){shown}, first line {first['loc'][1]}: "
            f"{first['msg']}. Nothing was imported; fix them and send the whole file again.",
            errors=self.listed,
        )


ENCODING_NAMES = {"utf-8": "UTF-8", "gb18030": "GB18030 (GBK)"}


# Lines with more than ASCII looked at before a file is taken as GB18030, within its first lines.
ENCODING_SAMPLE = 20
ENCODING_LOOK_AHEAD = 2000


def _encoding_of(lines: list[bytes]) -> str:
    """UTF-8 when any of the lines with more than ASCII is UTF-8 (a UTF-8 file with broken lines
    stays UTF-8, its broken lines reported); GB18030 when none is and all read as GB18030."""
    wide = [raw for raw in lines if not raw.isascii()]
    for raw in wide:
        with contextlib.suppress(UnicodeDecodeError):
            raw.decode("utf-8")
            return "utf-8"
    try:
        for raw in wide:
            raw.decode("gb18030")
    except UnicodeDecodeError:
        return "utf-8"
    return "gb18030" if wide else "utf-8"


def _decoded_lines(source: IO[bytes], problems: Problems) -> Iterator[str]:
    """The file's lines as text: UTF-8, or GB18030 (GBK's superset, as Excel in China saves CSV),
    judged on its first lines with more than ASCII (`problems.encoding` says which)."""
    lines = iter(source)
    first: list[bytes] = []
    marked = False  # a byte order mark says UTF-8
    wide = 0
    for raw in lines:
        if not first and raw.startswith(codecs.BOM_UTF8):
            raw, marked = raw[len(codecs.BOM_UTF8) :], True
        first.append(raw)
        wide += not raw.isascii()
        if marked or wide >= ENCODING_SAMPLE or len(first) >= ENCODING_LOOK_AHEAD:
            break
    problems.encoding = "utf-8" if marked else _encoding_of(first)
    for number, raw in enumerate(itertools.chain(first, lines), start=1):
        try:
            line = raw.decode(problems.encoding)
        except UnicodeDecodeError:
            problems.add(number, "neither UTF-8 nor GBK text (save the file as UTF-8)")
            line = raw.decode(problems.encoding, errors="replace")
        if any(char in line for char in CONTROL_CHARACTERS):
            problems.add(number, "holds control characters (such as NUL); save the file as plain text")
            line = line.translate(STRIP_CONTROL)
        yield line


def read_rows(
    source: IO[bytes], *, required: tuple[str, ...], optional: tuple[str, ...], problems: Problems
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) for each data row, read as UTF-8 or GB18030 (see _decoded_lines); a wrong
    header is reported and ends the file."""
    source.seek(0)
    reader = csv.reader(_decoded_lines(source, problems))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        problems.add(1, f"not readable as CSV ({exc}); save with Windows or Unix line endings")
        return
    if header is None:
        problems.add(1, f"the file is empty; the first line must be the header {','.join(required)}")
        return
    columns = [name.strip().lower() for name in header]
    missing = [name for name in required if name not in columns]
    unknown = [name for name in columns if name not in required + optional]
    if missing or unknown or len(set(columns)) != len(columns):
        expected = ",".join(required) + "".join(f"[,{name}]" for name in optional)
        problems.add(1, f"the header must be {expected}; got {','.join(columns)}")
        return
    width = len(columns)
    while True:
        try:
            row = next(reader, None)
        except csv.Error as exc:
            problems.add(reader.line_num, f"not readable as CSV ({exc}); save with Windows or Unix line endings")
            return
        if row is None:
            return
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != width:
            problems.add(reader.line_num, f"expected {width} fields, found {len(row)}")
            continue
        if any(len(value) > MAX_FIELD for value in row):
            problems.add(reader.line_num, f"a field is longer than {MAX_FIELD:,} characters")
            continue
        yield reader.line_num, dict(zip(columns, [value.strip() for value in row], strict=True))


def csv_body(header: str) -> dict[str, Any]:
    """The OpenAPI request body of a CSV import route, its example the file's header line."""
    example = {"schema": {"type": "string"}, "example": f"{header}\n"}
    return {"requestBody": {"required": True, "content": {"text/csv": example}}}
