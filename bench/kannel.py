"""A Xinjiang orange warning through Kannel: Jiaoying's sender to smsbox's sendsms, bearerbox to
fakesmsc (Debian's kannel and kannel-extras) as the carrier's SMSC, and Kannel's delivery reports
back to Jiaoying.

    python bench/kannel.py [--runs 3] [--backend sqlite|postgresql]

Xinjiang with three people per village and two per township and county (47,189 people); the
warning's first attempt is one SMS each. Measured from the 201: messages/s until every SMS is
taken by Kannel (recorded `sent`), and the time until every delivery report is back (recorded
`delivered`). Target: 1,000 messages/s. Server, Kannel and database share the machine's two cores.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fanout import xinjiang
from harness import fresh_database, postgres_available, server
from scheduler import count

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.notify.smsc import INSTALLED, Kannel

TARGET = 1000
SECRET = "bench-kannel-secret"


def run_once(backend: str, regions: bytes, roster: bytes, people: int) -> tuple[float, float]:
    with fresh_database(backend) as url, tempfile.TemporaryDirectory() as folder:
        kannel = Kannel(Path(folder), callbacks="")
        env = {"JIAOYING_PROVIDER": "kannel", "JIAOYING_KANNEL_URL": kannel.url, "JIAOYING_KANNEL_USERNAME": "jiaoying",
               "JIAOYING_KANNEL_PASSWORD": "sendsms-password", "JIAOYING_KANNEL_SECRET": SECRET}  # fmt: skip
        with server(url, scheduler=True, extra_env=env) as running, running.client() as http:
            kannel.callbacks = f"http://127.0.0.1:{running.port}/api/v1/providers/kannel/{SECRET}"
            kannel.start()
            try:
                csv_type = {"Content-Type": "text/csv"}
                http.post("/api/v1/regions/import", content=regions, headers=csv_type).raise_for_status()
                http.post("/api/v1/contacts/import", content=roster, headers=csv_type).raise_for_status()
                body = {"hazard": "寒潮", "level": "orange", "title": "新疆寒潮橙色预警", "area_codes": ["650000"]}
                http.post("/api/v1/warnings", json=body).raise_for_status()
                started = time.perf_counter()
                taken = "SELECT count(*) FROM messages WHERE status IN ('sent', 'delivered')"
                delivered = "SELECT count(*) FROM messages WHERE status = 'delivered'"
                sent_after = None
                while True:
                    elapsed = time.perf_counter() - started
                    if elapsed > 600:
                        raise SystemExit(f"{count(url, taken)} taken, {count(url, delivered)} delivered after 600 s")
                    if sent_after is None and count(url, taken) >= people:
                        sent_after = elapsed
                    if sent_after is not None and count(url, delivered) >= people:
                        return people / sent_after, elapsed
                    time.sleep(0.5)
            finally:
                kannel.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    args = parser.parse_args()
    if not INSTALLED:
        raise SystemExit("needs Debian's kannel and kannel-extras")
    regions, roster, people = xinjiang()
    print(f"kannel: {people:,} SMS (orange, first attempt) through Kannel to fakesmsc on loopback")
    for backend in args.backend or ["sqlite", "postgresql"]:
        if backend == "postgresql" and not postgres_available():
            print("postgresql: not reachable on 127.0.0.1:5432, skipped")
            continue
        results = [run_once(backend, regions, roster, people) for _ in range(args.runs)]
        rates, reports = [r for r, _ in results], [t for _, t in results]
        print(
            f"kannel, {backend:<10} median {statistics.median(rates):,.0f} messages/s taken by Kannel (target "
            f"{TARGET:,}/s; runs {', '.join(f'{rate:,.0f}' for rate in rates)}); every delivery report back "
            f"{statistics.median(reports):.1f} s after the 201 (runs {', '.join(f'{t:.1f}' for t in reports)})",
            flush=True,
        )


if __name__ == "__main__":
    main()
