"""One nationwide blue warning (a cold wave) on PostgreSQL: every region of China, three people per
village and two per township (about 1.96 million), all called.

    python bench/nationwide.py

Loads the 665,271 regions and the roster through the API (in slices of 200,000 people), then
issues the warning and times the 201, the server's peak memory, and how long until every message
is handed to the console provider. Targets (issue 10): the 201 within 60 s, peak memory under
1 GB, every message handed over within 5 minutes. One run: it takes a while.
"""

import argparse
import asyncio
import csv
import gzip
import io
import time

import asyncpg
from harness import SHARED_REGIONS, fresh_database, postgres_available, server

SLICE = 200_000


def country() -> tuple[bytes, list[bytes], int, list[str]]:
    with gzip.open(SHARED_REGIONS, "rb") as source:
        regions = source.read()
    slices: list[bytes] = []
    roster, people, provinces = io.StringIO(), 0, []
    writer = csv.writer(roster)
    header = ["name", "phone", "region_code", "role", "rank", "channels"]
    writer.writerow(header)
    for row in csv.DictReader(io.StringIO(regions.decode())):
        if row["level"] == "province":
            provinces.append(row["code"])
        for rank in range(1, {"village": 3, "township": 2}.get(row["level"], 0) + 1):
            people += 1
            writer.writerow([f"责任人{people}", f"+86139{people:08d}", row["code"], "责任人", rank, "sms"])
            if people % SLICE == 0:
                slices.append(roster.getvalue().encode())
                roster = io.StringIO()
                writer = csv.writer(roster)
                writer.writerow(header)
    slices.append(roster.getvalue().encode())
    return regions, slices, people, provinces


async def handed_over(url: str) -> int:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        return int(await connection.fetchval("SELECT count(*) FROM console_outbox"))
    finally:
        await connection.close()


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    if not postgres_available():
        print("postgresql: not reachable on 127.0.0.1:5432, skipped")
        return
    regions, slices, people, provinces = country()
    with fresh_database("postgresql") as url, server(url, scheduler=True) as running, running.client() as client:
        started = time.perf_counter()
        client.post("/api/v1/regions/import", content=regions, headers={"Content-Type": "text/csv"}).raise_for_status()
        print(f"regions: 665,271 imported in {time.perf_counter() - started:.0f} s", flush=True)
        started = time.perf_counter()
        for part in slices:
            client.post(
                "/api/v1/contacts/import", content=part, headers={"Content-Type": "text/csv"}
            ).raise_for_status()
        print(f"roster: {people:,} people imported in {time.perf_counter() - started:.0f} s", flush=True)
        before_mb = running.peak_rss_mb()
        started = time.perf_counter()
        response = client.post("/api/v1/warnings", json={"hazard": "寒潮", "level": "blue", "title": "全国寒潮蓝色预警",
                                                         "area_codes": provinces})  # fmt: skip
        took = time.perf_counter() - started
        body = response.json()
        print(f"the warning: HTTP {response.status_code} in {took:.1f} s (target 60 s), status {body.get('status')}; "
              f"server peak RSS {running.peak_rss_mb():.0f} MB (before: {before_mb:.0f} MB)", flush=True)  # fmt: skip
        while body.get("status") == "expanding":  # 202: the heartbeat stores the calls in steps
            time.sleep(2)
            body = client.get(f"/api/v1/warnings/{body['id']}").json()
        stored = time.perf_counter() - started
        expected = body["calls"]["total"]
        print(f"all {expected:,} calls stored {stored:.0f} s after the request; "
              f"server peak RSS {running.peak_rss_mb():.0f} MB (target 1,024 MB)", flush=True)  # fmt: skip
        while True:
            sent = asyncio.run(handed_over(url))
            elapsed = time.perf_counter() - started
            if sent >= expected or elapsed > 1800:
                break
            time.sleep(5)
        print(f"messages: {sent:,} of {expected:,} handed over {elapsed - took:.0f} s after the answer "
              f"(target 300 s); server peak RSS {running.peak_rss_mb():.0f} MB", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
