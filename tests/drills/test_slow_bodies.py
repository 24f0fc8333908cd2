"""Twenty clients trickle request bodies for 30 s (feedback on an acknowledgement link, roster
imports, new warnings) while others acknowledge and a red ladder runs: bodies are read whole before
any database work, so the slow ones get 408 and hold nobody up. On SQLite and on PostgreSQL."""

import socket
import statistics
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.drills.cluster import TOKEN, migrate, service
from tests.drills.conftest import load

STEP_S = 5.0  # a red attempt every 5 s
POLICY = {"reach": ["county", "township", "village"], "ack_timeout_s": 4 * STEP_S, "max_attempts": 4,
          "channels_by_attempt": [["sms"]], "escalate": False}  # fmt: skip
TICK_S = 0.5
TRICKLE_S = 30.0


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/drill.db"
        migrate(url)
        yield url
    else:
        yield request.getfixturevalue("cluster").url


def trickle(port: int, request_head: str, stop: threading.Event, answers: list[str]) -> None:
    """Send a request whose body comes a byte every half second, again whenever the server ends it."""
    while not stop.is_set():
        try:
            sock = socket.create_connection(("127.0.0.1", port))
        except OSError:  # the service is going away at the end of the drill
            return
        with sock:
            sock.sendall(request_head.encode())
            sock.settimeout(0.5)
            while not stop.is_set():
                try:
                    sock.sendall(b" ")
                    answer = sock.recv(200)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if answer:
                    answers.append(answer.split(b"\r\n", 1)[0].decode())
                break


def head(path: str, content_type: str, *, auth: bool) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {content_type}", "Content-Length: 100000"]
    if auth:
        lines.append(f"Authorization: Bearer {TOKEN}")
    return "\r\n".join(lines) + "\r\n\r\n"


def outbox(api: httpx.Client, warning_id: str) -> list[dict]:
    items, cursor = [], None
    while True:
        page = api.get("/api/v1/dev/outbox", params={"limit": 1000, **({"cursor": cursor} if cursor else {})}).json()
        items += [m for m in page["items"] if m["warning_id"] == warning_id]
        if not (cursor := page["next_cursor"]):
            return items


def test_slow_bodies_hold_nobody_up(database: str) -> None:
    with service(database, tick_seconds=str(TICK_S)) as running, running.client() as api:
        load(api, "650107")
        api.put("/api/v1/policies/red", json=POLICY).raise_for_status()
        body = {"hazard": "暴雨", "level": "red", "title": "暴雨红色预警", "area_codes": ["650107"]}
        warning = api.post("/api/v1/warnings", json=body).json()
        deadline = time.monotonic() + 30
        while len(links := [m["ack_url"] for m in outbox(api, warning["id"]) if m["ack_url"]]) <= 60:
            assert time.monotonic() < deadline, "the first attempts did not go out"
            time.sleep(TICK_S)
        slow_links, answering = links[:10], links[20:60]
        stop, answers = threading.Event(), []
        heads = [head(link.removeprefix(running.url) + "/feedback", "application/json", auth=False)
                 for link in slow_links]  # fmt: skip
        heads += [head("/api/v1/contacts/import", "text/csv", auth=True)] * 5
        heads += [head("/api/v1/warnings", "application/json", auth=True)] * 5
        threads = [threading.Thread(target=trickle, args=(running.port, h, stop, answers)) for h in heads]
        for thread in threads:
            thread.start()
        started = time.monotonic()
        latencies = []
        with httpx.Client(base_url=running.url, timeout=30) as village:
            for link in answering:
                began = time.perf_counter()
                response = village.post(link.removeprefix(running.url), headers={"Accept": "application/json"})
                latencies.append(time.perf_counter() - began)
                assert response.status_code == 200, response.text
                time.sleep(max(0.0, (TRICKLE_S - (time.monotonic() - started)) / len(answering) - 0.01))
        while time.monotonic() - started < TRICKLE_S:
            time.sleep(0.2)
        stop.set()
        for thread in threads:
            thread.join()

        p99 = statistics.quantiles(latencies, n=100)[98]
        print(f"drill ({database.split(':')[0]}): {len(latencies)} acknowledgements, median "
              f"{statistics.median(latencies) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms; {len(answers)} slow bodies "
              f"answered {sorted(set(answers))}")  # fmt: skip
        assert p99 < 1.0
        assert answers and all(" 408 " in answer for answer in answers)

        # Every attempt of the calls nobody answered went out within a tick of its time.
        calls = api.get(f"/api/v1/warnings/{warning['id']}/calls", params={"limit": 1000}).json()["items"]
        silent = {c["id"]: datetime.fromisoformat(c["deadline_at"]) - timedelta(seconds=4 * STEP_S)
                  for c in calls if c["status"] == "unanswered"}  # fmt: skip
        assert silent
        lags = []
        by_call: dict[str, list[datetime]] = {}
        for message in outbox(api, warning["id"]):
            if message["call_id"] in silent and message["kind"] == "alert":
                by_call.setdefault(message["call_id"], []).append(datetime.fromisoformat(message["sent_at"]))
        for call_id, sent in by_call.items():
            assert len(sent) == 4, sent
            for attempt, at in enumerate(sorted(sent)):
                lags.append((at - silent[call_id]).total_seconds() - attempt * STEP_S)
        print(f"ladder: {len(lags)} attempts, latest {max(lags):.2f} s after its time (tick {TICK_S} s)")
        assert max(lags) < TICK_S + 0.5
