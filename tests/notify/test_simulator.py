"""The whole gateway path with real processes: the service (webhook provider, scheduler on) and the
gateway simulator, each a uvicorn on loopback; the simulator answers everyone by SMS reply or
voice key, and every call ends acknowledged, with delivery receipts recorded."""

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import FIXTURES, ROOT
from tests.ports import free_port

TOKEN = "simulator-admin-token"
SECRET = "simulator-secret"
SPEAKERS = "simulator-loudspeakers"  # the loudspeaker platform's own key


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{url} did not come up"
        time.sleep(0.1)


@pytest.fixture
def service_and_gateway() -> Iterator[tuple[str, str]]:
    with tempfile.TemporaryDirectory(prefix="jiaoying-simulator-") as folder:
        url = f"sqlite+aiosqlite:///{folder}/jiaoying.db"
        env = {**os.environ, "JIAOYING_DATABASE_URL": url}
        subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, env=env, check=True)
        service_port, gateway_port = free_port(), free_port()
        base, gateway = f"http://127.0.0.1:{service_port}", f"http://127.0.0.1:{gateway_port}"
        env.update({"JIAOYING_ADMIN_TOKEN": TOKEN, "JIAOYING_PUBLIC_URL": base, "JIAOYING_SCHEDULER": "on",
                    "JIAOYING_TICK_SECONDS": "0.2", "JIAOYING_SECRET_KEY": "simulator-links",
                    "JIAOYING_PROVIDER": "webhook", "JIAOYING_WEBHOOK_URL": f"{gateway}/messages",
                    "JIAOYING_WEBHOOK_SECRET": SECRET, "JIAOYING_BROADCAST_URL": f"{gateway}/broadcasts",
                    "JIAOYING_BROADCAST_SECRET": SPEAKERS})  # fmt: skip
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(service_port), "--log-level", "error"],
                cwd=ROOT, env=env,
            ),
            subprocess.Popen(
                [sys.executable, "-m", "app.notify.simulator", "--port", str(gateway_port), "--callback", base,
                 "--secret", SECRET, "--answer", "1", "--delay", "0.1:0.5"],
                cwd=ROOT, env=env,
            ),
        ]  # fmt: skip
        try:
            _wait_ready(f"{base}/readyz")
            _wait_ready(f"{gateway}/stats")
            yield base, gateway
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=15)


def test_everyone_answers_through_the_simulator(service_and_gateway: tuple[str, str]) -> None:
    base, gateway = service_and_gateway
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    csv = {"Content-Type": "text/csv"}
    api.post("/api/v1/regions/import", content=(FIXTURES / "regions.csv").read_bytes(), headers=csv).raise_for_status()
    roster = "name,phone,region_code,role,rank,channels\n" + "".join(
        f"村民{n},+86136{n:08d},650107001001,责任人,{n},{'sms|voice' if n % 2 else 'voice'}\n" for n in range(1, 6)
    )
    api.post("/api/v1/contacts/import", content=roster.encode(), headers=csv).raise_for_status()
    speaker = {"region_code": "650107001001", "name": "村委会大喇叭", "languages": ["zh", "ug"]}
    api.post("/api/v1/loudspeakers", json=speaker).raise_for_status()
    body = {"hazard": "暴雨", "level": "red", "title": "暴雨红色预警", "area_codes": ["650107001001"]}
    warning = api.post("/api/v1/warnings", json=body)
    warning.raise_for_status()
    warning_id = warning.json()["id"]
    deadline = time.monotonic() + 30
    while True:
        made = api.get(f"/api/v1/warnings/{warning_id}/calls").json()["items"]
        if all(call["status"] == "acknowledged" for call in made):
            break
        assert time.monotonic() < deadline, [call["status"] for call in made]
        time.sleep(0.2)
    assert {call["ack_method"] for call in made} <= {"sms_reply", "voice_key"} and len(made) == 5
    assert "voice_key" in {call["ack_method"] for call in made}  # the voice-only people pressed 1
    stats = httpx.get(f"{gateway}/stats").json()
    assert stats["received"] >= 5 and stats["callback_errors"] == 0
    deadline = time.monotonic() + 10
    while True:
        events = api.get(f"/api/v1/warnings/{warning_id}/timeline", params={"limit": 1000}).json()["items"]
        delivered = [e for e in events if e["type"] == "message.delivered"]
        if len(delivered) == stats["distinct"]:
            break
        assert time.monotonic() < deadline, (len(delivered), stats)
        time.sleep(0.2)
    regions = api.get(f"/api/v1/warnings/{warning_id}/regions").json()["items"]
    assert [region["state"] for region in regions] == ["reached"]
    # The village loudspeaker played it: the platform's receipt is on the record.
    deadline = time.monotonic() + 10
    while "broadcast.delivered" not in [e["type"] for e in events]:
        assert time.monotonic() < deadline, [e["type"] for e in events if e["type"].startswith("broadcast.")]
        time.sleep(0.2)
        events = api.get(f"/api/v1/warnings/{warning_id}/timeline", params={"limit": 1000}).json()["items"]
    assert httpx.get(f"{gateway}/stats").json()["broadcasts"] == 1
