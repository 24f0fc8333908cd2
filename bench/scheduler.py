"""The heartbeat under load: 1,000 attempts falling due together among 100,000 open calls, and the
cost of a tick with nothing due.

    python bench/scheduler.py [--runs 3] [--backend sqlite|postgresql]

Xinjiang with six people per village and eight per township and county: 100,430 people. An orange
warning over all of it opens 100,430 calls (their second attempt an hour away); once its first
messages are out, a red warning (ack_timeout_s 20, two attempts: the second due 10 s after issue)
calls the county closest to 1,000 people. Measured: from the moment that second attempt falls
due to the moment the last of its messages is handed to the console provider, with a tick of
JIAOYING_TICK_SECONDS = 1 (target: within the tick + 1 s). Then, with the server stopped and
every call still open, the heartbeat's jobs run in this process with nothing due: the idle tick
(target: under 10 ms, which only index-driven queries reach), right after the load and once
(VACUUM) ANALYZE has run.
"""

import argparse
import asyncio
import csv
import gzip
import io
import os
import statistics
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from harness import SHARED_REGIONS, Server, fresh_database, postgres_available, server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TICK = 1.0
PER_LEVEL = {"village": 6, "township": 8, "county": 8}
RED = {"reach": ["county", "township", "village"], "ack_timeout_s": 20, "max_attempts": 2,
       "channels_by_attempt": [["sms", "voice"]], "escalate": True, "escalate_above_county": False}  # fmt: skip
ORANGE = {"reach": ["county", "township", "village"], "ack_timeout_s": 7200, "max_attempts": 2,
          "channels_by_attempt": [["sms"], ["voice"]], "escalate": True, "escalate_above_county": False}  # fmt: skip


def xinjiang() -> tuple[bytes, bytes, int, str, int]:
    """Regions, roster, people, and the county closest to 1,000 people with its count."""
    regions, roster = io.StringIO(), io.StringIO()
    region_writer, roster_writer = csv.writer(regions), csv.writer(roster)
    region_writer.writerow(["code", "name", "level", "parent_code"])
    roster_writer.writerow(["name", "phone", "region_code", "role", "rank", "channels"])
    parents: dict[str, str] = {}
    levels: dict[str, str] = {}
    people = 0
    per_region: Counter[str] = Counter()
    with gzip.open(SHARED_REGIONS, "rt", encoding="utf-8") as source:
        for row in csv.DictReader(source):
            if not row["code"].startswith("65"):
                continue
            region_writer.writerow([row["code"], row["name"], row["level"], row["parent_code"]])
            parents[row["code"]], levels[row["code"]] = row["parent_code"], row["level"]
            for rank in range(1, PER_LEVEL.get(row["level"], 0) + 1):
                people += 1
                per_region[row["code"]] += 1
                phone = f"+86139{people:08d}"
                roster_writer.writerow([f"责任人{people}", phone, row["code"], "责任人", rank, "sms|voice"])
    by_county: Counter[str] = Counter()
    for code, count in per_region.items():
        county = code
        while levels.get(county) != "county":
            county = parents[county]
        by_county[county] += count
    county, count = min(by_county.items(), key=lambda item: abs(item[1] - 1000))
    return regions.getvalue().encode(), roster.getvalue().encode(), people, county, count


def count(url: str, sql: str, *args: Any) -> int:
    if url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(url.split(":///", 1)[1], timeout=30) as connection:
            return int(connection.execute(sql.replace("$1", "?"), args).fetchone()[0])
    import asyncpg

    async def fetch() -> int:
        connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            return int(await connection.fetchval(sql, *args))
        finally:
            await connection.close()

    return asyncio.run(fetch())


def wait_for(url: str, sql: str, expected: int, *args: Any, limit_s: float = 300) -> None:
    started = time.perf_counter()
    while count(url, sql, *args) < expected:
        if time.perf_counter() - started > limit_s:
            raise SystemExit(f"waited {limit_s} s for {expected}: {count(url, sql, *args)}")
        time.sleep(0.02)


def run_once(backend: str, data: tuple[bytes, bytes, int, str, int]) -> tuple[float, tuple[float, float], int]:
    regions, roster, people, county, near_1000 = data
    os.environ["JIAOYING_TICK_SECONDS"] = str(TICK)
    with fresh_database(backend) as url:
        with server(url, scheduler=True) as running, running.client() as http:
            csv_type = {"Content-Type": "text/csv"}
            http.post("/api/v1/regions/import", content=regions, headers=csv_type).raise_for_status()
            http.post("/api/v1/contacts/import", content=roster, headers=csv_type).raise_for_status()
            http.put("/api/v1/policies/orange", json=ORANGE).raise_for_status()
            http.put("/api/v1/policies/red", json=RED).raise_for_status()
            body = {"hazard": "寒潮", "level": "orange", "title": "新疆寒潮橙色预警", "area_codes": ["650000"]}
            http.post("/api/v1/warnings", json=body).raise_for_status()
            wait_for(url, "SELECT count(*) FROM console_outbox", people)
            body = {"hazard": "暴雨", "level": "red", "title": "暴雨红色预警", "area_codes": [county]}
            issued = http.post("/api/v1/warnings", json=body)
            issued.raise_for_status()
            warning_id = issued.json()["id"]
            due = datetime.fromisoformat(issued.json()["created_at"]).timestamp() + RED["ack_timeout_s"] / 2
            second = "SELECT count(*) FROM messages WHERE warning_id = $1 AND attempt = 2 AND status = 'sent'"
            wait_for(url, second, 2 * near_1000, warning_id)
            lag = time.time() - due
            open_calls = count(url, "SELECT count(*) FROM calls WHERE status IN ('pending', 'notified')")
        idle = idle_tick_ms(url)
    return lag, idle, open_calls


def idle_tick_ms(url: str) -> tuple[float, float]:
    """The heartbeat's three jobs with nothing due, in this process: the median of 30 ticks right
    after the load, and again once VACUUM ANALYZE has cleared the index entries the sends left
    dead (autovacuum does that on its own a little later)."""
    os.environ.update({"JIAOYING_DATABASE_URL": url, "JIAOYING_SECRET_KEY": Server.secret})
    from sqlalchemy import text

    from app import wiring
    from app.call import chase as call_chase
    from app.config import Settings
    from app.db import session_scope, utc_now
    from app.notify import providers, sender
    from app.notify.console import ConsoleProvider
    from app.warning import lifecycle

    settings = Settings()  # the environment just set: this database, the server's key

    async def median_tick(provider: ConsoleProvider) -> float:
        plan = providers.plan(settings)
        times = []
        for _ in range(31):
            started = time.perf_counter()
            assert await sender.send_due(provider, settings=settings, now=utc_now()) == 0
            assert await call_chase.chase_due(now=utc_now()) == 0
            async with session_scope() as session:
                assert await lifecycle.expire_due(session, plan=plan, now=utc_now(), limit=1) == 0
            times.append(time.perf_counter() - started)
        return statistics.median(times[1:]) * 1000

    async def ticks() -> tuple[float, float]:
        database = wiring.configure(settings)
        try:
            before = await median_tick(ConsoleProvider())
            async with database.engine.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                await connection.execute(text("VACUUM ANALYZE" if not database.is_sqlite else "ANALYZE"))
            return before, await median_tick(ConsoleProvider())
        finally:
            await database.engine.dispose()

    return asyncio.run(ticks())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    args = parser.parse_args()
    data = xinjiang()
    print(f"scheduler: {data[2]:,} people open; a red warning on county {data[3]} ({data[4]:,} people) "
          f"falls due together; tick {TICK:.0f} s")  # fmt: skip
    for backend in args.backend or ["sqlite", "postgresql"]:
        if backend == "postgresql" and not postgres_available():
            print("postgresql: not reachable on 127.0.0.1:5432, skipped")
            continue
        results = [run_once(backend, data) for _ in range(args.runs)]
        lags = [r[0] for r in results]
        idles = [r[1][0] for r in results]
        vacuumed = [r[1][1] for r in results]
        print(
            f"scheduler, {backend:<10} {results[0][2]:,} open calls; due attempts handed over "
            f"{statistics.median(lags):.2f} s after falling due, median (limit {TICK + 1:.0f} s; runs "
            f"{', '.join(f'{lag:.2f}' for lag in lags)}); idle tick (limit 10 ms) {statistics.median(idles):.1f} ms "
            f"right after the load (runs {', '.join(f'{idle:.1f}' for idle in idles)}), "
            f"{statistics.median(vacuumed):.1f} ms after (VACUUM) ANALYZE (runs "
            f"{', '.join(f'{idle:.1f}' for idle in vacuumed)})",
            flush=True,
        )


if __name__ == "__main__":
    main()
