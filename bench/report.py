"""The response report over a year of one province: 1,000,000 alert calls, grouped by county.

    python bench/report.py [--runs 5] [--backend postgresql|sqlite] [--calls 1000000]

Xinjiang's regions (from ../shared) and the past year of synthetic county warnings (each calling 3
people per village and 2 per township and county, ~400 calls; 90% actual, 10% exercise; 70% of
calls acknowledged after a log-normal wait, a share of them late, half of those with feedback) are
written straight into the tables. The warnings past their week are sealed as the scheduler would
(report.rollup), the last week's stay open. Then a real server answers
GET /api/v1/reports/response?region_code=65&group_by=county for the year, timed from this client.
Target (issue 6): under 1 s on PostgreSQL.
"""

import argparse
import asyncio
import csv
import gzip
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness import SHARED_REGIONS, fresh_database, postgres_available, server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PROVINCE = "65"
YEAR_END = datetime.now(UTC).replace(microsecond=0)
YEAR_START = YEAR_END - timedelta(days=365)


def xinjiang() -> list[dict[str, str]]:
    with gzip.open(SHARED_REGIONS, "rt", encoding="utf-8") as handle:
        return [row for row in csv.DictReader(handle) if row["code"].startswith(PROVINCE)]


async def fill(url: str, regions: list[dict[str, str]], total_calls: int) -> int:
    """Write the regions and a year of warnings with their calls and targeted regions; the warnings' count."""
    os.environ["JIAOYING_DATABASE_URL"] = url
    from app import db, ids
    from app.bulk import bulk_insert
    from app.db import session_scope
    from app.models.call import Call
    from app.models.region import Region
    from app.models.warning import Warning, WarningRegion
    from app.report import rollup

    database = db.configure(url)
    rng = random.Random(6)
    by_code = {row["code"]: row for row in regions}

    def path(code: str) -> str:
        parent = by_code[code]["parent_code"]
        return (path(parent) if parent else "") + code + "/"

    counties = [row for row in regions if row["level"] == "county"]
    below: dict[str, list[dict[str, str]]] = {row["code"]: [] for row in counties}
    for row in regions:
        if row["level"] in ("township", "village") and row["code"][:6] + "000000" in below:
            below[row["code"][:6] + "000000"].append(row)
    try:
        async with session_scope() as session:
            now = datetime.now(UTC)
            await bulk_insert(
                session, Region,
                ({"code": r["code"], "name": r["name"], "level": r["level"], "parent_code": r["parent_code"] or None,
                  "path": path(r["code"]), "abolished": False, "updated_at": now} for r in regions),
            )  # fmt: skip
        made = warnings = 0
        while made < total_calls:
            county = rng.choice(counties)
            targets = [county, *below[county["code"]]]
            issued = YEAR_START + timedelta(seconds=rng.uniform(0, 364 * 86400))
            deadline = issued + timedelta(minutes=30)
            warning_id = ids.new_id()
            warnings += 1
            calls, states = [], {}
            for region in targets:
                reached = False
                for _ in range(3 if region["level"] == "village" else 2):
                    waited = rng.lognormvariate(5.5, 1.0) if rng.random() < 0.7 else None
                    acked = issued + timedelta(seconds=waited) if waited is not None else None
                    reached = reached or acked is not None
                    calls.append({
                        "id": ids.new_id(), "warning_id": warning_id, "kind": "alert", "contact_id": ids.new_id(),
                        "contact_name": "责任人", "contact_phone": f"+86139{made + len(calls):08d}",
                        "contact_region_code": region["code"], "contact_role": "责任人", "contact_rank": 1,
                        "channels": ["sms"], "region_codes": [region["code"]], "about_region_codes": [],
                        "escalated_from": None, "status": "acknowledged" if acked else "unanswered", "attempts": 2,
                        "next_attempt_at": None, "deadline_at": deadline, "created_at": issued,
                        "notified_at": issued, "acknowledged_at": acked, "ack_method": "link" if acked else None,
                        "ack_note": None, "ack_by": None, "late": bool(acked and acked > deadline),
                        "closed_at": deadline, "feedback_count": int(bool(acked) and rng.random() < 0.5),
                        "final_feedback_at": None,
                    })  # fmt: skip
                states[region["code"]] = reached
            async with session_scope() as session:
                await bulk_insert(
                    session, Warning,
                    [{"id": warning_id, "hazard": "暴雨", "level": "orange", "title": f"{county['name']}暴雨橙色预警",
                      "description": None, "instruction": None, "area_codes": [county["code"]],
                      "area_paths": [path(county["code"])], "onset": None, "expires": issued + timedelta(days=1),
                      "mode": "exercise" if rng.random() < 0.1 else "actual", "status": "expired", "policy": {},
                      "targeted_regions": len(targets), "uncovered_area_codes": [], "created_at": issued,
                      "created_by": "值班员", "closed_at": issued + timedelta(days=1), "close_reason": None,
                      "close_kind": "expired", "supersedes": None, "superseded_by": None}],
                )  # fmt: skip
                await bulk_insert(session, Call, calls)
                await bulk_insert(
                    session, WarningRegion,
                    ({"warning_id": warning_id, "region_code": r["code"], "name": r["name"], "level": r["level"],
                      "parent_code": r["parent_code"], "state": "reached" if states[r["code"]] else "unreached",
                      "reached_at": None, "reached_by": None,
                      "escalated_at": None if states[r["code"]] else deadline} for r in targets),
                )  # fmt: skip
            made += len(calls)
        started, sealed = time.perf_counter(), 0
        while True:  # as the scheduler's seal-warnings job does
            async with session_scope() as session:
                if await rollup.seal_due(session, now=datetime.now(UTC)) is None:
                    break
            sealed += 1
        print(f"{sealed:,} of {warnings:,} warnings sealed in {time.perf_counter() - started:.1f} s")
        async with database.engine.connect() as connection:
            if database.is_sqlite:
                await connection.exec_driver_sql("ANALYZE")
            else:
                await (await connection.get_raw_connection()).driver_connection.execute("VACUUM ANALYZE")  # type: ignore[union-attr]
        return warnings
    finally:
        await database.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    parser.add_argument("--calls", type=int, default=1_000_000)
    args = parser.parse_args()
    regions = xinjiang()
    params = {"region_code": PROVINCE + "0000", "since": YEAR_START.isoformat(), "until": YEAR_END.isoformat()}
    for backend in args.backend or ["postgresql", "sqlite"]:
        if backend == "postgresql" and not postgres_available():
            print("postgresql: not reachable on 127.0.0.1:5432, skipped")
            continue
        with fresh_database(backend) as url:
            started = time.perf_counter()
            warnings = asyncio.run(fill(url, regions, args.calls))
            took = time.perf_counter() - started
            print(f"{backend}: {warnings:,} warnings, {args.calls:,}+ calls written in {took:.0f} s")
            with server(url) as running, running.client() as client:
                for group_by in ("county", "township"):
                    times, rows = [], 0
                    for _ in range(args.runs + 1):  # the first run warms the server's caches, not counted
                        began = time.perf_counter()
                        response = client.get("/api/v1/reports/response", params={**params, "group_by": group_by,
                                                                                  "limit": 1000})  # fmt: skip
                        times.append(time.perf_counter() - began)
                        assert response.status_code == 200, response.text
                        rows = len(response.json()["items"])
                    counted = times[1:]
                    print(
                        f"report, {backend:<10} by {group_by:<8} {rows:>5} rows: "
                        f"median {statistics.median(counted):.3f} s"
                        f" (target 1 s by county on PostgreSQL; runs {', '.join(f'{t:.3f}' for t in counted)})",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
