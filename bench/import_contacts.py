"""Import a roster of 50,000 contacts (three per village of Xinjiang, then townships) through the API.

    python bench/import_contacts.py [--runs 3] [--backend sqlite|postgresql]

Each run starts from a fresh database holding Xinjiang's 16,263 regions. Target (issue 2): at most 5 s.
"""

import argparse
import csv
import gzip
import io
import time

from harness import SHARED_REGIONS, fresh_database, postgres_available, report, server

CONTACTS = 50_000
LIMIT_S = 5.0


def xinjiang() -> tuple[bytes, bytes]:
    regions = io.StringIO()
    writer = csv.writer(regions)
    writer.writerow(["code", "name", "level", "parent_code"])
    places = []
    with gzip.open(SHARED_REGIONS, "rt", encoding="utf-8") as source:
        for row in csv.DictReader(source):
            if row["code"].startswith("65"):
                writer.writerow([row["code"], row["name"], row["level"], row["parent_code"]])
                if row["level"] in ("village", "township"):
                    places.append((row["level"] != "village", row["code"]))
    places.sort()  # villages first
    roster = io.StringIO()
    writer = csv.writer(roster)
    writer.writerow(["name", "phone", "region_code", "role", "rank", "channels"])
    for n in range(CONTACTS):
        _, code = places[n // 3 % len(places)] if n < 3 * len(places) else places[n % len(places)]
        writer.writerow([f"责任人{n}", f"+86139{n:08d}", code, "网格员", n % 3 + 1, "sms|voice"])
    return regions.getvalue().encode(), roster.getvalue().encode()


def run_once(backend: str, regions: bytes, roster: bytes) -> tuple[float, float]:
    with fresh_database(backend) as url, server(url) as running, running.client() as http:
        http.post("/api/v1/regions/import", content=regions, headers={"Content-Type": "text/csv"}).raise_for_status()
        started = time.perf_counter()
        response = http.post("/api/v1/contacts/import", content=roster, headers={"Content-Type": "text/csv"})
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        assert response.json()["created"] == CONTACTS, response.text
        return elapsed, running.peak_rss_mb()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    args = parser.parse_args()
    regions, roster = xinjiang()
    print(f"contacts import: {CONTACTS:,} rows, {len(roster) / 1e6:.1f} MB of CSV")
    for backend in args.backend or ["sqlite", "postgresql"]:
        if backend == "postgresql" and not postgres_available():
            print("postgresql: not reachable on 127.0.0.1:5432, skipped")
            continue
        results = [run_once(backend, regions, roster) for _ in range(args.runs)]
        report(f"contacts import, {backend}", [s for s, _ in results], [m for _, m in results], LIMIT_S, None)


if __name__ == "__main__":
    main()
