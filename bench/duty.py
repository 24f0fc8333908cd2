"""The duty desk at the scale of a province: who is on duty, and the day's gaps, for every office.

    python bench/duty.py [--runs 3] [--backend sqlite|postgresql]

Xinjiang's 1,513 county and township offices (108 counties, 1,405 townships) each keep a roster
of two officers on 12-hour shifts for three weeks (63,546 shifts), every tenth office with a gap
tonight. Measured in this process, each a median of --runs: `first_gaps` over all offices (the
home page's and the duty page's warning of the next gap within 24 hours, two queries whatever
the number of offices), and `desks_in_force` over all offices (what an escalation's routing asks,
here for every office at once).
"""

import argparse
import asyncio
import csv
import gzip
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

from harness import SHARED_REGIONS, fresh_database, postgres_available

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DAYS = 21


def xinjiang_offices() -> list[tuple[str, str, str, str]]:
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
    from app.duty import service as duty_service
    from app.ids import new_id
    from app.models.contact import Contact
    from app.models.duty import DutyShift
    from app.models.region import Region

    database = db.configure(url)
    try:
        now = utc_now().replace(minute=0, second=0, microsecond=0)
        regions = xinjiang_offices()
        paths: dict[str, str] = {}
        region_rows, contacts, shifts = [], [], []
        for code, name, level, parent in regions:
            paths[code] = f"{paths.get(parent, '/')}{code}/"
            region_rows.append({"code": code, "name": name, "level": level, "parent_code": parent or None,
                                "path": paths[code], "abolished": False, "updated_at": now})  # fmt: skip
        offices = [code for code, _, level, _ in regions if level in ("county", "township")]
        for n, code in enumerate(offices):
            people = []
            for k in range(2):
                people.append(new_id())
                contacts.append({"id": people[-1], "name": f"值班员{k}", "phone": f"+86139{n * 2 + k:08d}",
                                 "region_code": code, "role": "值班员", "rank": 1, "channels": ["sms"],
                                 "active": True, "created_at": now, "updated_at": now})  # fmt: skip
            for half in range(DAYS * 2):
                starts = now - timedelta(days=3) + timedelta(hours=12 * half)
                if n % 10 == 0 and half == 7:  # tonight's shift missing
                    continue
                shifts.append({"id": new_id(), "region_code": code, "starts_at": starts,
                               "ends_at": starts + timedelta(hours=12), "officer_id": people[half % 2],
                               "leader_id": None, "created_at": now, "created_by": "bench"})  # fmt: skip
        async with session_scope() as session:
            await bulk_insert(session, Region, region_rows)
            await bulk_insert(session, Contact, contacts)
            await bulk_insert(session, DutyShift, shifts)
        gap_times, desk_times, gaps, desks = [], [], 0, 0
        for _ in range(runs):
            started = time.perf_counter()
            async with session_scope(read_only=True) as session:
                found = await duty_service.first_gaps(session, DutyShift.region_code.is_not(None), now)
            gap_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            async with session_scope(read_only=True) as session:
                in_force = await duty_service.desks_in_force(session, offices, now)
            desk_times.append(time.perf_counter() - started)
            gaps, desks = len(found), sum(1 for desk in in_force.values() if desk is not None)
        return gap_times, desk_times, gaps, desks
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
            gap_times, desk_times, gaps, desks = asyncio.run(measure(url, args.runs))
        print(
            f"duty, {backend:<10} next gap of 1,513 offices: {statistics.median(gap_times) * 1000:.0f} ms median "
            f"({gaps} with a gap); who is on duty at all of them: {statistics.median(desk_times) * 1000:.0f} ms "
            f"median ({desks} on duty); runs {', '.join(f'{t * 1000:.0f}' for t in gap_times)} / "
            f"{', '.join(f'{t * 1000:.0f}' for t in desk_times)} ms",
            flush=True,
        )


if __name__ == "__main__":
    main()
