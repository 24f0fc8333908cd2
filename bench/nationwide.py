"""One nationwide blue warning (a cold wave) on PostgreSQL: every region of China, three people per
village and two per township (about 1.96 million), all called.

    python bench/nationwide.py [--workers N]

Loads the 665,271 regions through the API and the roster straight into the contacts table (COPY:
the roster import has its own benchmark, and its per-person audit events are not what is measured
here), then issues the warning and times the 201, the server's peak memory, and how long until every message
is handed to the console provider. Targets (issue 10): the 201 within 60 s, peak memory under
1 GB, every message handed over within 5 minutes. One run: it takes a while.
"""

import argparse
import asyncio
import csv
import gzip
import io
import re
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from harness import SHARED_REGIONS, TOKEN, Outbox, fresh_database, postgres_available, server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def country() -> tuple[bytes, list[str]]:
    with gzip.open(SHARED_REGIONS, "rb") as source:
        regions = source.read()
    provinces = [row["code"] for row in csv.DictReader(io.StringIO(regions.decode())) if row["level"] == "province"]
    return regions, provinces


async def load_roster(url: str, regions: bytes) -> int:
    """Three people per village and two per township, written with COPY; how many."""
    from app import db
    from app.bulk import bulk_insert
    from app.db import session_scope
    from app.ids import new_id
    from app.models.contact import Contact

    database = db.configure(url)
    now = datetime.now(UTC)
    people = 0

    def rows() -> Iterator[dict[str, Any]]:
        nonlocal people
        for row in csv.DictReader(io.StringIO(regions.decode())):
            for rank in range(1, {"village": 3, "township": 2}.get(row["level"], 0) + 1):
                people += 1
                yield {"id": new_id(), "name": f"责任人{people}", "phone": f"+86139{people:08d}",
                       "region_code": row["code"], "role": "责任人", "rank": rank, "channels": ["sms"],
                       "active": True, "created_at": now, "updated_at": now, "deactivated_at": None}  # fmt: skip

    try:
        async with session_scope() as session:
            await bulk_insert(session, Contact, rows())
        async with database.engine.connect() as connection:
            await (await connection.get_raw_connection()).driver_connection.execute("VACUUM ANALYZE contacts")  # type: ignore[union-attr]
    finally:
        await database.engine.dispose()
    return people


def board_and_report(base: str, api: httpx.Client, warning_id: str) -> None:
    """The board's first paint (its HTML, signed in as a person would) and reports on the warning."""
    with httpx.Client(base_url=base, timeout=120) as web:
        form = web.get("/console/login")
        found = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert found is not None
        web.post("/console/login", data={"token": TOKEN, "csrf": found.group(1), "next": "/console"})
        for label, client, path in (
            ("board first paint", web, f"/console/warnings/{warning_id}"),
            ("console home", web, "/console"),
            ("report by county, Xinjiang", api, "/api/v1/reports/response?region_code=650000&group_by=county"),
            ("report by county, all China", api, "/api/v1/reports/response?group_by=county&limit=1000"),
        ):
            times = []
            for _ in range(3):
                began = time.perf_counter()
                response = client.get(path)
                times.append(time.perf_counter() - began)
            print(f"{label}: HTTP {response.status_code}, median {statistics.median(times):.2f} s "
                  f"(runs {', '.join(f'{t:.2f}' for t in times)})", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=1, help="server processes, each with its heartbeat")
    args = parser.parse_args()
    if not postgres_available():
        print("postgresql: not reachable on 127.0.0.1:5432, skipped")
        return
    regions, provinces = country()
    with (
        fresh_database("postgresql") as url,
        server(url, scheduler=True, workers=args.workers) as running,
        running.client() as client,
    ):
        started = time.perf_counter()
        client.post("/api/v1/regions/import", content=regions, headers={"Content-Type": "text/csv"}).raise_for_status()
        print(f"regions: 665,271 imported in {time.perf_counter() - started:.0f} s", flush=True)
        started = time.perf_counter()
        people = asyncio.run(load_roster(url, regions))
        print(f"roster: {people:,} people written in {time.perf_counter() - started:.0f} s", flush=True)
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
        board_and_report(running.url, client, body["id"])
        with Outbox(url) as outbox:
            while not outbox.holds(expected) and time.perf_counter() - started <= 1800:
                time.sleep(1)
            elapsed = time.perf_counter() - started
            sent = outbox.count()
        print(f"messages: {sent:,} of {expected:,} handed over {elapsed - took:.0f} s after the answer "
              f"(target 300 s); server peak RSS {running.peak_rss_mb():.0f} MB", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
