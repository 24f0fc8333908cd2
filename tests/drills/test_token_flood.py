"""A flood of bad tokens on /ack/ (someone guessing links): every legitimate acknowledgement still
succeeds, and promptly. Guessed tokens fail their check characters and never reach the database
(see app.call.tokens)."""

import asyncio
import statistics
import subprocess
import sys
import time

import httpx

from tests.drills.cluster import Cluster, service
from tests.drills.conftest import load

FLOODERS = 8
JSON = {"Accept": "application/json"}


async def press(client: httpx.AsyncClient, tokens: list[str], times: list[float]) -> None:
    for token in tokens:
        started = time.perf_counter()
        response = await client.post(f"/ack/{token}", headers=JSON)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "acknowledged"


# The flood comes from a process of its own, as an attacker's would: in the presses' own event loop
# it would mostly measure how long the presses wait behind the flooders in this process.
FLOOD = """
import asyncio, secrets, sys, httpx

async def main(url, flooders):
    answers = []

    async def flood(client):
        while True:
            guess = secrets.token_urlsafe(16)[:22]
            response = await client.post(f"/ack/{guess}", headers={"Accept": "application/json"})
            answers.append(response.status_code)

    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        tasks = [asyncio.create_task(flood(client)) for _ in range(flooders)]
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the drill says stop
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    print(len(answers), *sorted(set(answers)))

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


async def presses(url: str, tokens: list[str]) -> list[float]:
    """Four people pressing the links one after another; how long each press took."""
    times: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        quarters = [tokens[index::4] for index in range(4)]
        await asyncio.gather(*(press(client, quarter, times) for quarter in quarters))
    return times


def test_legitimate_acknowledgements_get_through_a_flood_of_bad_tokens(cluster: Cluster) -> None:
    with service(cluster.url, scheduler="on") as running, running.client() as api:
        load(api, "650107", per_village=8)
        warning = api.post("/api/v1/warnings", json={"hazard": "暴雨", "level": "red", "title": "暴雨红色预警",
                                                     "area_codes": ["650107"]}).json()  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            outbox = api.get("/api/v1/dev/outbox", params={"limit": 1000}).json()["items"]
            links = sorted({m["ack_url"].rsplit("/", 1)[1] for m in outbox if m["ack_url"]})
            if len(links) == warning["calls"]["total"]:
                break
            assert time.monotonic() < deadline
            time.sleep(0.3)
        calm = asyncio.run(presses(running.url, links[::2]))
        flood = subprocess.Popen([sys.executable, "-c", FLOOD, running.url, str(FLOODERS)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)  # fmt: skip
        time.sleep(1)
        times = asyncio.run(presses(running.url, links[1::2]))
        output, _ = flood.communicate("", timeout=60)
        state = api.get(f"/api/v1/warnings/{warning['id']}").json()
    assert state["calls"]["by_status"]["acknowledged"] == len(links)
    sent, *statuses = (int(word) for word in output.split())
    assert statuses == [404] and sent > len(times), (output, len(times))
    calm_p99, p99 = (statistics.quantiles(sample, n=100)[98] for sample in (calm, times))
    calm_median = statistics.median(calm) * 1000
    print(f"\n{len(times)} acknowledgements amid {sent} bad tokens: median "
          f"{statistics.median(times) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms "
          f"(without the flood: median {calm_median:.0f} ms, p99 {calm_p99 * 1000:.0f} ms)")  # fmt: skip
    # The flood, the presses, PostgreSQL and the server share two cores here (measured: p99 about
    # 60 ms amid the flood, 35 ms without). Every press must still succeed, none waiting a second.
    assert p99 < 1.0, (p99, calm_p99)
