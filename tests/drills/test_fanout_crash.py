"""SIGKILL the server in the middle of a large fan-out: the warning then exists with all its calls or
not at all, and the same request again (same Idempotency-Key) completes it exactly once."""

import threading
import time

import httpx

from tests.drills.cluster import Cluster, service
from tests.drills.conftest import load

BODY = {"hazard": "寒潮", "level": "red", "title": "全疆寒潮红色预警", "area_codes": ["650000"]}


def counts(cluster: Cluster) -> tuple[int, ...]:
    """Warnings, calls and idempotency keys stored, read straight from the database."""
    (row,) = cluster.query(
        "SELECT (SELECT count(*) FROM warnings), (SELECT count(*) FROM calls), (SELECT count(*) FROM idempotency_keys)"
    )
    return tuple(int(value) for value in row.split("|"))


def test_a_fan_out_killed_midway_leaves_all_or_nothing_and_completes_once(cluster: Cluster) -> None:
    with service(cluster.url, scheduler="off") as running, running.client() as api:
        people = load(api, "65")
        assert people > 40_000
        answer: list[httpx.Response | Exception] = []

        def post() -> None:
            try:
                answer.append(api.post("/api/v1/warnings", json=BODY, headers={"Idempotency-Key": "cold-wave-1"}))
            except httpx.HTTPError as exc:
                answer.append(exc)

        sender = threading.Thread(target=post)
        sender.start()
        time.sleep(0.8)  # the fan-out of ~47,000 calls takes about two seconds here
        running.kill()
        sender.join()
        warnings, calls, keys = counts(cluster)
        assert (warnings, calls, keys) in ((0, 0, 0), (1, people, 1)), (warnings, calls, keys)
        killed_midway = isinstance(answer[0], Exception)

        running.start()
        again = api.post("/api/v1/warnings", json=BODY, headers={"Idempotency-Key": "cold-wave-1"})
        assert again.status_code in (200, 201), again.text
        assert again.json()["calls"]["total"] == people
        assert counts(cluster) == (1, people, 1)
        repeat = api.post("/api/v1/warnings", json=BODY, headers={"Idempotency-Key": "cold-wave-1"})
        assert repeat.status_code == 200 and repeat.json()["id"] == again.json()["id"]
        assert counts(cluster) == (1, people, 1)
        assert killed_midway, "the kill came after the 201; the drill proved nothing"
