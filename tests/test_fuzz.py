"""The service fuzzed from its own OpenAPI document (schemathesis): whatever a client sends, no 500
and no response that breaks the schema the service publishes. A bounded number of examples per
operation, against a real server on loopback with a small tree and roster to hit.

Runs in the SQLite pass of the suite (the PostgreSQL pass has the drills)."""

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.conftest import FIXTURES, POSTGRES_URL, alembic_config
from tests.drills.cluster import service

TOKEN = "fuzz-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
pytestmark = pytest.mark.skipif(POSTGRES_URL is not None, reason="fuzzed in the SQLite pass")


@pytest.fixture(scope="module")
def fuzz_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from alembic import command

    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fuzz')}/fuzz.db"
    command.upgrade(alembic_config(url), "head")
    with service(url, scheduler="off", admin_token=TOKEN) as running, running.client(TOKEN) as api:
        regions = (FIXTURES / "regions.csv").read_bytes()
        api.post("/api/v1/regions/import", content=regions, headers={"Content-Type": "text/csv"}).raise_for_status()
        api.post(
            "/api/v1/contacts",
            json={
                "name": "张三",
                "phone": "+8613900000001",
                "region_code": "650107001001",
                "role": "村委会主任",
                "rank": 1,
                "channels": ["sms"],
            },
        ).raise_for_status()
        yield schemathesis.openapi.from_url(f"{running.url}/openapi.json")


def test_no_server_error_and_no_response_outside_the_schema(fuzz_schema: Any) -> None:
    failures = []
    checks = [not_a_server_error, response_schema_conformance, content_type_conformance]
    for result in fuzz_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None, phases=[Phase.explicit, Phase.generate])  # fmt: skip
        def probe(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=AUTH, timeout=30, checks=checks)

        try:
            probe()
        except (Exception, BaseExceptionGroup) as exc:  # each operation's failures are shown together
            failures.append(f"{operation.label}: {str(exc)[:600]}")
    assert not failures, "\n\n".join(failures)
