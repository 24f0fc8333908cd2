"""A red warning over all of Xinjiang: the 201, then every first message handed to the console provider.

    python bench/fanout.py [--runs 3] [--backend sqlite|postgresql] [--workers N]

Xinjiang (code 65): 108 counties, 1,405 townships, 14,721 villages; three contacts per village and
two per township and county: about 47,000 calls and, red sending SMS and voice together, 94,000
messages. Targets (issue 3): the 201 in at most 2 s on PostgreSQL and 3 s on SQLite, server peak
memory under 400 MB, every first message handed over within 10 s of the 201.

--workers runs that many server processes on PostgreSQL, each with its heartbeat, as a deployment
does (the issuing request runs in one of them; every one of them sends). SQLite has one.
"""

import argparse
import csv
import gzip
import io
import statistics
import time

from harness import SHARED_REGIONS, Outbox, fresh_database, postgres_available, server

LIMITS = {"sqlite": 3.0, "postgresql": 2.0}


def xinjiang() -> tuple[bytes, bytes, int]:
    regions = io.StringIO()
    roster = io.StringIO()
    region_writer, roster_writer = csv.writer(regions), csv.writer(roster)
    region_writer.writerow(["code", "name", "level", "parent_code"])
    roster_writer.writerow(["name", "phone", "region_code", "role", "rank", "channels"])
    people = 0
    with gzip.open(SHARED_REGIONS, "rt", encoding="utf-8") as source:
        for row in csv.DictReader(source):
            if not row["code"].startswith("65"):
                continue
            region_writer.writerow([row["code"], row["name"], row["level"], row["parent_code"]])
            count = {"village": 3, "township": 2, "county": 2}.get(row["level"], 0)
            for rank in range(1, count + 1):
                people += 1
                roster_writer.writerow(
                    [f"责任人{people}", f"+86139{people:08d}", row["code"], "责任人", rank, "sms|voice"]
                )
    return regions.getvalue().encode(), roster.getvalue().encode(), people


def run_once(backend: str, regions: bytes, roster: bytes, people: int, processes: int) -> tuple[float, float, float]:
    with (
        fresh_database(backend) as url,
        server(url, scheduler=True, workers=processes) as running,
        running.client() as http,
    ):
        http.post("/api/v1/regions/import", content=regions, headers={"Content-Type": "text/csv"}).raise_for_status()
        http.post("/api/v1/contacts/import", content=roster, headers={"Content-Type": "text/csv"}).raise_for_status()
        body = {"hazard": "暴雨", "level": "red", "title": "新疆暴雨红色预警", "instruction": "立即转移危险区域人员",
                "area_codes": ["650000"]}  # fmt: skip
        started = time.perf_counter()
        response = http.post("/api/v1/warnings", json=body)
        issued = time.perf_counter() - started
        response.raise_for_status()
        assert response.json()["calls"]["total"] == people, response.text
        expected = 2 * people
        with Outbox(url) as outbox:
            while not outbox.holds(expected):
                if time.perf_counter() - started > 120:
                    raise SystemExit(f"only {outbox.count()} of {expected} messages after 120 s")
                time.sleep(0.1)
        delivered = time.perf_counter() - started - issued
        return issued, delivered, running.peak_rss_mb()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backend", choices=sorted(LIMITS), action="append")
    parser.add_argument("--workers", type=int, default=1, help="server processes on PostgreSQL")
    args = parser.parse_args()
    regions, roster, people = xinjiang()
    print(f"fan-out: red warning over Xinjiang, {people:,} people, {2 * people:,} first messages")
    for backend in args.backend or ["sqlite", "postgresql"]:
        if backend == "postgresql" and not postgres_available():
            print("postgresql: not reachable on 127.0.0.1:5432, skipped")
            continue
        processes = args.workers if backend == "postgresql" else 1  # SQLite has one writer
        results = [run_once(backend, regions, roster, people, processes) for _ in range(args.runs)]
        issued = statistics.median(r[0] for r in results)
        handed = statistics.median(r[1] for r in results)
        print(
            f"fan-out, {backend:<10} {processes} process(es): 201 median {issued:5.2f} s "
            f"(limit {LIMITS[backend]:.0f} s; runs "
            f"{', '.join(f'{r[0]:.2f}' for r in results)}); all first messages handed over {handed:5.1f} s after "
            f"the 201 (limit 10 s; runs {', '.join(f'{r[1]:.1f}' for r in results)}); peak server RSS "
            f"{max(r[2] for r in results):.0f} MB (limit 400 MB)",
            flush=True,
        )


if __name__ == "__main__":
    main()
