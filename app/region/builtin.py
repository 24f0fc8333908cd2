"""The national region table shipped with Jiaoying (region/data/cn-regions.csv.gz: all 665,271
regions), and CSV files read whole into a spool (gunzipped, hashed) for an import, whole or the
part under a code prefix."""

import gzip
import hashlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from app.errors import AppError

BUILTIN_REGIONS = Path(__file__).resolve().parent / "data" / "cn-regions.csv.gz"


def spooled(path: Path, keep: Callable[[bytes], bool] | None = None) -> tuple[IO[bytes], int, str]:
    """A CSV file (gunzipped if it ends in .gz) in a temporary file, with its size and SHA-256;
    `keep` picks data lines (the header always stays)."""
    spool = tempfile.SpooledTemporaryFile(max_size=4_000_000)  # noqa: SIM115 (returned to the caller)
    digest = hashlib.sha256()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as source:
        for number, line in enumerate(source):
            if number and keep is not None and not keep(line):
                continue
            spool.write(line)
            digest.update(line)
    size = spool.tell()
    spool.seek(0)
    return spool, size, digest.hexdigest()


def builtin_filter(prefix: str) -> Callable[[bytes], bool]:
    """Rows of the regions under a code prefix (e.g. 65, 650107), and the regions above them."""
    if not prefix.isdigit() or not 2 <= len(prefix) <= 12:
        raise AppError(f"{prefix!r} is not a code prefix; give 2 to 12 digits, e.g. 65 or 650107.", status=422)
    above = {(prefix[:n] + "0" * 12)[:12].encode() for n in (2, 4, 6, 9) if n < len(prefix)}
    wanted = prefix.encode()
    return lambda line: line.startswith(wanted) or line[:12] in above
