"""Import all 665,271 regions of China into a fresh database through the API, on SQLite and PostgreSQL.

    python bench/import_regions.py [--runs 3] [--backend sqlite|postgresql]

Prints the median wall time of the request and the server's peak memory. Targets (issue 2):
at most 30 s on SQLite and 20 s on PostgreSQL, peak memory under 400 MB.
"""

import argparse
import gzip
import time

from harness import SHARED_REGIONS, fresh_database, postgres_available, report, server

LIMITS = {"sqlite": 30.0, "postgresql": 20.0}


def run_once(backend: str, body: bytes) -> tuple[float, float]:
    with fresh_database(backend) as url, server(url) as running, running.client() as http:
        started = time.perf_counter()
        response = http.post("/api/v1/regions/import", content=body, headers={"Content-Type": "text/csv"})
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        assert response.json()["created"] == 665_271, response.text
        return elapsed, running.peak_rss_mb()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backend", choices=sorted(LIMITS), action="append")
    args = parser.parse_args()
    if not SHARED_REGIONS.exists():
        raise SystemExit(f"needs {SHARED_REGIONS}")
    body = gzip.decompress(SHARED_REGIONS.read_bytes())
    print(f"regions import: {len(body) / 1e6:.1f} MB of CSV, 665,271 rows")
    for backend in args.backend or ["sqlite", "postgresql"]:
        if backend == "postgresql" and not postgres_available():
            print("postgresql: not reachable on 127.0.0.1:5432, skipped")
            continue
        results = [run_once(backend, body) for _ in range(args.runs)]
        report(
            f"regions import, {backend}",
            [s for s, _ in results],
            [m for _, m in results],
            LIMITS[backend],
            400,
        )


if __name__ == "__main__":
    main()
