"""PostgreSQL stopped for 20 s under load: requests get a prompt 503 problem+json (no hang, no 500),
/readyz says so, and when the database is back the scheduler and the sender carry on with
nothing lost: the warning issued before the outage gets every message out, one issued after too."""

import threading
import time
from collections import Counter

import httpx

from tests.drills.cluster import Cluster, service
from tests.drills.conftest import load

OUTAGE_S = 20
DB_TIMEOUT_S = 2


def test_requests_get_503_while_the_database_is_down_and_work_resumes(cluster: Cluster) -> None:
    with service(cluster.url, db_timeout_s=str(DB_TIMEOUT_S)) as running, running.client() as api:
        load(api, "650107")
        before = api.post("/api/v1/warnings", json={"hazard": "暴雨", "level": "orange", "title": "暴雨橙色预警",
                                                    "area_codes": ["650107"]}).json()  # fmt: skip
        statuses: Counter[int] = Counter()
        failures: list[str] = []
        t0 = time.monotonic()
        slowest = 0.0
        down = threading.Event()
        done = threading.Event()

        def load_while_down() -> None:
            nonlocal slowest
            with running.client() as client:
                while not done.is_set():
                    for method, path in (("GET", f"/api/v1/warnings/{before['id']}"), ("GET", "/api/v1/warnings"),
                                         ("POST", "/api/v1/contacts"), ("GET", "/readyz")):  # fmt: skip
                        started = time.monotonic()
                        try:
                            response = client.request(method, path, json={} if method == "POST" else None, timeout=15)
                        except httpx.HTTPError as exc:
                            statuses[0] += 1  # a hang or a dropped connection: counted, and must not happen
                            failures.append(
                                f"{method} {path} down={down.is_set()}: {exc!r} at {time.monotonic() - t0:.1f} s"
                            )
                            continue
                        if down.is_set():
                            slowest = max(slowest, time.monotonic() - started)
                            statuses[response.status_code] += 1
                            if response.status_code >= 500:
                                assert response.headers["content-type"] == "application/problem+json"

        workers = [threading.Thread(target=load_while_down) for _ in range(4)]
        for worker in workers:
            worker.start()
        time.sleep(1)
        cluster.stop()
        down.set()
        time.sleep(OUTAGE_S)
        down.clear()
        cluster.start()
        done.set()
        for worker in workers:
            worker.join()

        assert statuses[503] > 20, statuses
        assert statuses[500] == 0 and statuses[0] == 0, (statuses, failures[:5])
        assert slowest < DB_TIMEOUT_S + 5, slowest
        deadline = time.monotonic() + 30
        while api.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the service never became ready again"
            time.sleep(0.5)

        after = api.post("/api/v1/warnings", json={"hazard": "暴雨", "level": "orange", "title": "暴雨橙色预警（更新）",
                                                   "area_codes": ["650107001000"]})  # fmt: skip
        assert after.status_code == 201, after.text
        deadline = time.monotonic() + 30
        while True:
            outbox = api.get("/api/v1/dev/outbox", params={"limit": 1000}).json()["items"]
            by_warning = Counter(message["warning_id"] for message in outbox)
            first_attempts = {(m["call_id"], m["channel"]) for m in outbox if m["warning_id"] == before["id"]}
            if (
                len(first_attempts) >= before["calls"]["total"]
                and by_warning[after.json()["id"]] >= after.json()["calls"]["total"]
            ):
                break
            assert time.monotonic() < deadline, (len(first_attempts), by_warning)
            time.sleep(0.5)
