"""A gateway that accepts connections and never answers: requests time out, the deadlines still
move the ladder (calls go unanswered, villages escalate), and the server's memory stays flat."""

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.drills.cluster import Cluster, service
from tests.drills.conftest import load

POLICY = {"reach": ["county", "township", "village"], "ack_timeout_s": 6, "max_attempts": 3,
          "channels_by_attempt": [["sms", "voice"]], "escalate": True}  # fmt: skip


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A TCP port that takes every connection and every byte, and says nothing."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=256)
    held: list[socket.socket] = []
    stop = threading.Event()

    def swallow() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            connection.setblocking(False)
            held.append(connection)

    thread = threading.Thread(target=swallow, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()


def test_a_silent_gateway_times_out_and_the_ladder_still_moves(cluster: Cluster, black_hole: int) -> None:
    settings = {"provider": "webhook", "webhook_url": f"http://127.0.0.1:{black_hole}/messages",
                "webhook_secret": "drill", "webhook_timeout_s": "1"}  # fmt: skip
    with service(cluster.url, **settings) as running, running.client() as api:
        load(api, "650107")
        api.put("/api/v1/policies/red", json=POLICY).raise_for_status()
        warning = api.post("/api/v1/warnings", json={"hazard": "大风", "level": "red", "title": "大风红色预警",
                                                     "area_codes": ["650107"]}).json()  # fmt: skip
        time.sleep(4)
        early_mb = running.rss_mb()
        deadline = time.monotonic() + 40
        while True:
            state = api.get(f"/api/v1/warnings/{warning['id']}").json()
            if (
                state["calls"]["by_status"].get("unanswered") == warning["calls"]["total"]
                and state["escalations"]["total"]
            ):
                break
            assert time.monotonic() < deadline, state
            time.sleep(0.5)
        time.sleep(5)  # the escalation calls keep timing out against the silent gateway
        late_mb = running.rss_mb()
        metrics = api.get("/metrics").text
        timeouts = [line for line in metrics.splitlines() if line.startswith("jiaoying_gateway_errors_total")]
        assert timeouts and sum(float(line.split()[-1]) for line in timeouts) > 0, timeouts
        assert late_mb - early_mb < 30, (early_mb, late_mb)
