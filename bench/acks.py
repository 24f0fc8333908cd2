"""Acknowledgements through the link: throughput and latency at 32 concurrent clients.

    python bench/acks.py [--runs 3] [--backend sqlite|postgresql] [--acks 6000]

A red warning over 达坂城区's neighbours (Urumqi, 1,247 regions, three people per village) is issued
with the scheduler off, so only acknowledgements load the server; then every call's link is
POSTed once (`Accept: application/json`) by 32 concurrent clients. PostgreSQL runs two server
processes, SQLite one. Targets (issue 3): 1,500/s with p99 under 100 ms on PostgreSQL, 800/s on
SQLite. Client and server share the machine's two cores.
"""

import argparse
import asyncio
import csv
import gzip
import io
import statistics
import sys
import time
from pathlib import Path

import httpx
from harness import SHARED_REGIONS, fresh_database, postgres_available, server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app.ack.tokens import derive_token

TARGETS = {"sqlite": 800, "postgresql": 1500}
CLIENTS = 32


def urumqi() -> tuple[bytes, bytes]:
    regions, roster = io.StringIO(), io.StringIO()
    region_writer, roster_writer = csv.writer(regions), csv.writer(roster)
    region_writer.writerow(["code", "name", "level", "parent_code"])
    roster_writer.writerow(["name", "phone", "region_code", "role", "rank", "channels"])
    people = 0
    with gzip.open(SHARED_REGIONS, "rt", encoding="utf-8") as source:
        for row in csv.DictReader(source):
            if not (row["code"].startswith("6501") or row["code"] == "650000000000"):
                continue
            region_writer.writerow([row["code"], row["name"], row["level"], row["parent_code"]])
            for rank in range(1, {"village": 4, "township": 3, "county": 3}.get(row["level"], 1)):
                people += 1
                roster_writer.writerow([f"责任人{people}", f"+86139{people:08d}", row["code"], "责任人", rank, "sms"])
    return regions.getvalue().encode(), roster.getvalue().encode()


async def hammer(base_url: str, tokens: list[str]) -> tuple[float, list[float]]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for token in tokens:
        queue.put_nowait(token)
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as http:

        async def client() -> None:
            while not queue.empty():
                token = queue.get_nowait()
                started = time.perf_counter()
                response = await http.post(f"/ack/{token}", headers={"Accept": "application/json"})
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise SystemExit(f"ack failed: {response.status_code} {response.text[:200]}")

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(CLIENTS)))
        return time.perf_counter() - started, latencies


def run_once(backend: str, regions: bytes, roster: bytes, limit: int) -> tuple[float, float, float]:
    workers = 2 if backend == "postgresql" else 1
    with fresh_database(backend) as url, server(url, workers=workers) as running, running.client() as http:
        http.post("/api/v1/regions/import", content=regions, headers={"Content-Type": "text/csv"}).raise_for_status()
        http.post("/api/v1/contacts/import", content=roster, headers={"Content-Type": "text/csv"}).raise_for_status()
        body = {"hazard": "暴雨", "level": "red", "title": "乌鲁木齐暴雨红色预警", "area_codes": ["650100"]}
        warning = http.post("/api/v1/warnings", json=body).json()
        call_ids: list[str] = []
        cursor = None
        while True:
            page = http.get(f"/api/v1/warnings/{warning['id']}/calls", params={"limit": 1000, "cursor": cursor}).json()
            call_ids += [c["id"] for c in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        tokens = [derive_token(running.secret.encode(), call_id) for call_id in call_ids[:limit]]
        elapsed, latencies = asyncio.run(hammer(running.url, tokens))
        p99 = statistics.quantiles(latencies, n=100)[98]
        return len(tokens) / elapsed, p99 * 1000, statistics.median(latencies) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--acks", type=int, default=6000)
    parser.add_argument("--backend", choices=sorted(TARGETS), action="append")
    args = parser.parse_args()
    regions, roster = urumqi()
    for backend in args.backend or ["sqlite", "postgresql"]:
        if backend == "postgresql" and not postgres_available():
            print("postgresql: not reachable on 127.0.0.1:5432, skipped")
            continue
        results = [run_once(backend, regions, roster, args.acks) for _ in range(args.runs)]
        rate = statistics.median(r[0] for r in results)
        p99 = statistics.median(r[1] for r in results)
        print(
            f"acks, {backend:<10} median {rate:6.0f}/s (target {TARGETS[backend]}/s; runs "
            f"{', '.join(f'{r[0]:.0f}' for r in results)}); p99 {p99:.0f} ms (target < 100 ms); "
            f"median latency {statistics.median(r[2] for r in results):.0f} ms; {CLIENTS} clients",
            flush=True,
        )


if __name__ == "__main__":
    main()
