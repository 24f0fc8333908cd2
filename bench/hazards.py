"""The hazard figures (GET /api/v1/reports/hazards) over a province's year of reports.

    python bench/hazards.py [--runs 3] [--backend sqlite|postgresql]

A year of Xinjiang: 50,000 reports spread over its 1,405 townships, nine in ten taken (接报),
three in ten whistled to two of their county's departments (报到), eight in ten resolved, half of
them judged. Measured in this process, each a median of --runs: the province's figures by county
(108 rows, every report read) and one prefecture's by township, as the API and the console's
report page compute them.
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
from datetime import timedelta
from pathlib import Path

from harness import SHARED_REGIONS, fresh_database, postgres_available

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REPORTS = 50_000
PREFECTURE = "6501"  # 乌鲁木齐市, as the report's region prefix names it


def xinjiang_regions() -> list[tuple[str, str, str, str]]:
    rows = []
    with gzip.open(SHARED_REGIONS, "rt", encoding="utf-8") as source:
        for row in csv.DictReader(source):
            if row["code"].startswith("65") and row["level"] in ("province", "prefecture", "county", "township"):
                rows.append((row["code"], row["name"], row["level"], row["parent_code"]))
    return rows


async def measure(url: str, runs: int) -> tuple[list[float], list[float], int, int]:
    os.environ["JIAOYING_DATABASE_URL"] = url
    from app import db
    from app.bulk import bulk_insert
    from app.db import session_scope, utc_now
    from app.hazard import figures
    from app.ids import new_id
    from app.models.department import Department
    from app.models.hazard import Hazard, HazardDispatch
    from app.models.region import Region

    database = db.configure(url)
    rng = random.Random(27)
    try:
        now = utc_now()
        regions = xinjiang_regions()
        paths: dict[str, str] = {}
        region_rows = []
        for code, name, level, parent in regions:
            paths[code] = f"{paths.get(parent, '/')}{code}/"
            region_rows.append({"code": code, "name": name, "level": level, "parent_code": parent or None,
                                "path": paths[code], "abolished": False, "updated_at": now})  # fmt: skip
        townships = [(code, parent) for code, _, level, parent in regions if level == "township"]
        counties = sorted({parent for _, parent in townships})
        departments = {county: [new_id(), new_id()] for county in counties}
        department_rows = [{"id": d, "name": f"部门{i}", "region_code": county, "created_at": now}
                           for county, ids in departments.items() for i, d in enumerate(ids)]  # fmt: skip
        hazards, dispatches = [], []
        for _ in range(REPORTS):
            township, county = rng.choice(townships)
            made = now - timedelta(days=rng.uniform(1, 365))
            taken = made + timedelta(seconds=rng.uniform(30, 5400)) if rng.random() < 0.9 else None
            resolved = made + timedelta(hours=rng.uniform(1, 72)) if taken and rng.random() < 0.8 else None
            rating = rng.choice(("satisfied", "satisfied", "unsatisfied")) if resolved and rng.random() < 0.5 else None
            status = "evaluated" if rating else "resolved" if resolved else "received" if taken else "reported"
            hazard = {"id": new_id(), "region_code": township, "office_code": county, "place": "",
                      "category": "山体滑坡", "description": "裂缝", "people_at_risk": None,
                      "urgent": rng.random() < 0.2, "source": "link", "reporter_name": None, "reporter_phone": None,
                      "reporter_contact_id": None, "status": status, "policy": {}, "created_at": made,
                      "created_by": "bench", "received_at": taken,
                      "dispatched_at": None, "resolved_at": resolved, "evaluated_at": None, "resolution": None,
                      "rating": rating, "rating_note": None}  # fmt: skip
            if taken and rng.random() < 0.3:
                hazard["dispatched_at"] = taken + timedelta(minutes=5)
                for department_id in departments[county]:
                    whistled = hazard["dispatched_at"]
                    reported = whistled + timedelta(seconds=rng.uniform(60, 3600))
                    dispatches.append({"id": new_id(), "hazard_id": hazard["id"], "department_id": department_id,
                                       "department_name": "部门", "instruction": "", "created_at": whistled,
                                       "deadline_at": whistled + timedelta(hours=1),
                                       "reported_in_at": reported if rng.random() < 0.85 else None,
                                       "escalated_at": None})  # fmt: skip
            hazards.append(hazard)
        async with session_scope() as session:
            await bulk_insert(session, Region, region_rows)
            await bulk_insert(session, Department, department_rows)
            await bulk_insert(session, Hazard, hazards)
            await bulk_insert(session, HazardDispatch, dispatches)
        since, until = now - timedelta(days=366), now
        province_times, prefecture_times, rows, township_rows = [], [], 0, 0
        for _ in range(runs):
            started = time.perf_counter()
            async with session_scope(read_only=True) as session:
                found = await figures.hazard_rows(session, prefix="65", since=since, until=until, group_by="county",
                                                  after=None, fetch=None)  # fmt: skip
            province_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            async with session_scope(read_only=True) as session:
                local = await figures.hazard_rows(session, prefix=PREFECTURE, since=since, until=until,
                                                  group_by="township", after=None, fetch=None)  # fmt: skip
            prefecture_times.append(time.perf_counter() - started)
            rows, township_rows = len(found), len(local)
        return province_times, prefecture_times, rows, township_rows
    finally:
        await database.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    args = parser.parse_args()
    for backend in args.backend or ["sqlite", "postgresql"]:
        if backend == "postgresql" and not postgres_available():
            print("postgresql: not reachable on 127.0.0.1:5432, skipped")
            continue
        with fresh_database(backend) as url:
            province, prefecture, rows, township_rows = asyncio.run(measure(url, args.runs))
        print(
            f"hazards, {backend:<10} a year of {REPORTS:,} reports: the province by county ({rows} rows) "
            f"{statistics.median(province) * 1000:.0f} ms median; 乌鲁木齐市 by township ({township_rows} rows) "
            f"{statistics.median(prefecture) * 1000:.0f} ms median; runs "
            f"{', '.join(f'{t * 1000:.0f}' for t in province)} / {', '.join(f'{t * 1000:.0f}' for t in prefecture)} ms",
            flush=True,
        )


if __name__ == "__main__":
    main()
