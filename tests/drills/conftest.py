"""The drills run in the PostgreSQL pass of the suite (JIAOYING_TEST_DATABASE_URL set), each module
on a cluster of its own that the drill may stop or kill."""

from collections.abc import Iterator

import httpx
import pytest

from app.region import builtin
from tests.conftest import POSTGRES_URL
from tests.drills.cluster import PG_BIN, Cluster, migrate

pytestmark = pytest.mark.skipif(
    POSTGRES_URL is None or PG_BIN is None, reason="drills run in the PostgreSQL pass, with PostgreSQL's binaries"
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if POSTGRES_URL is None or PG_BIN is None:
        pytest.skip("drills run in the PostgreSQL pass, with PostgreSQL's binaries")
    running = Cluster()
    try:
        migrate(running.url)
        yield running
    finally:
        running.close()


def load(api: httpx.Client, prefix: str, *, per_village: int = 3) -> int:
    """The built-in regions under a code prefix and a synthetic roster for them; the people's count."""
    spool, _, _ = builtin.spooled(builtin.BUILTIN_REGIONS, builtin.builtin_filter(prefix))
    regions = spool.read()
    api.post("/api/v1/regions/import", content=regions, headers={"Content-Type": "text/csv"}).raise_for_status()
    lines = ["name,phone,region_code,role,rank,channels"]
    for row in regions.decode().splitlines()[1:]:
        code, _, level, _ = row.split(",")
        if level in ("county", "township", "village"):
            for rank in range(1, (per_village if level == "village" else 2) + 1):
                lines.append(f"责任人,+86139{len(lines):08d},{code},责任人,{rank},sms|voice")
    roster = ("\n".join(lines) + "\n").encode()
    api.post("/api/v1/contacts/import", content=roster, headers={"Content-Type": "text/csv"}).raise_for_status()
    return len(lines) - 1
