"""The compose file is a deployment, checked without an engine (docker-compose reads and validates
it; `.ci/run` installs Debian's): only the TLS proxy is published, the public address is required,
the database has no way out, and the gateway simulator comes only with the demo profile."""

import os
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

ENV = {
    "JIAOYING_DOMAIN": "jiaoying.example.gov.cn", "JIAOYING_PUBLIC_URL": "https://jiaoying.example.gov.cn",
    "JIAOYING_ADMIN_TOKEN": "t", "JIAOYING_SECRET_KEY": "k", "JIAOYING_WEBHOOK_URL": "https://gateway.example/m",
    "JIAOYING_WEBHOOK_SECRET": "s", "POSTGRES_PASSWORD": "p",
}  # fmt: skip
pytestmark = pytest.mark.skipif(
    shutil.which("docker-compose") is None and not os.environ.get("JIAOYING_REQUIRE_BROWSER"),
    reason="needs Debian's docker-compose (installed by .ci/run)",
)


def config(*args: str, env: dict[str, str] = ENV) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("JIAOYING_", "POSTGRES_"))}
    return subprocess.run(
        ["docker-compose", *args, "config"], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True
    )


def resolved() -> dict[str, Any]:
    done = config()
    assert done.returncode == 0, done.stderr
    return dict(yaml.safe_load(done.stdout))


def test_only_the_tls_proxy_is_published_and_the_database_has_no_way_out() -> None:
    document = resolved()
    services = document["services"]
    published = {name: [port["published"] for port in s["ports"]] for name, s in services.items() if s.get("ports")}
    assert published == {"proxy": [80, 443]}
    assert list(services["db"]["networks"]) == ["back"] and document["networks"]["back"]["internal"] is True
    # The simulator (its /control stops delivery) starts only with `--profile demo`.
    assert services["simulator"]["profiles"] == ["demo"]
    assert all("profiles" not in s for name, s in services.items() if name != "simulator")


def test_the_public_address_and_secrets_are_required() -> None:
    for missing in ("JIAOYING_PUBLIC_URL", "JIAOYING_WEBHOOK_URL", "JIAOYING_SECRET_KEY", "POSTGRES_PASSWORD"):
        refused = config(env={k: v for k, v in ENV.items() if k != missing})
        assert refused.returncode != 0 and missing in refused.stderr
