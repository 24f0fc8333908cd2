"""Messages through the webhook provider to the gateway simulator on loopback.

    python bench/webhook.py [--runs 3] [--backend sqlite|postgresql] [--level orange|red] [--batch 100]

Xinjiang with three people per village and two per township and county (47,189 people); a
warning over all of it. Orange (the default): its first attempt is one SMS each, and what is
measured is from the 201 to the moment every message is recorded `sent` (claimed, signed and
POSTed to the simulator in batches of JIAOYING_WEBHOOK_BATCH, answered 2xx with a result per
message, recorded). Red: its first attempt is an SMS and a voice call each, and what is measured
is the time from the 201 until every first SMS is accepted by the gateway. No rate limit; the
simulator posts no receipts back. Target: at least 2,000 messages/s end to end. Server,
simulator and database share the machine's two cores.
"""

import argparse
import statistics
import subprocess
import sys
import time

from fanout import xinjiang
from harness import ROOT, fresh_database, postgres_available, server
from scheduler import count

TARGET = 2000
SECRET = "bench-gateway-secret"


def run_once(backend: str, regions: bytes, roster: bytes, people: int, level: str, batch: int) -> float:
    """Seconds from the 201 until the messages measured are recorded as taken by the gateway."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with fresh_database(backend) as url:
        simulator = subprocess.Popen(
            [sys.executable, "-m", "app.notify.simulator", "--port", str(port), "--secret", SECRET, "--answer", "0",
             "--no-receipts"],
            cwd=ROOT,
        )  # fmt: skip
        env = {"JIAOYING_PROVIDER": "webhook", "JIAOYING_WEBHOOK_URL": f"http://127.0.0.1:{port}/messages",
               "JIAOYING_WEBHOOK_SECRET": SECRET, "JIAOYING_WEBHOOK_BATCH": str(batch)}  # fmt: skip
        try:
            with server(url, scheduler=True, extra_env=env) as running, running.client() as http:
                csv_type = {"Content-Type": "text/csv"}
                http.post("/api/v1/regions/import", content=regions, headers=csv_type).raise_for_status()
                http.post("/api/v1/contacts/import", content=roster, headers=csv_type).raise_for_status()
                body = {"hazard": "寒潮", "level": level, "title": "新疆寒潮预警", "area_codes": ["650000"]}
                response = http.post("/api/v1/warnings", json=body)
                response.raise_for_status()
                started = time.perf_counter()
                sent = "SELECT count(*) FROM messages WHERE status = 'sent' AND channel = 'sms' AND attempt = 1"
                while count(url, sent) < people:
                    if time.perf_counter() - started > 300:
                        raise SystemExit(f"only {count(url, sent)} of {people} first SMS sent after 300 s")
                    time.sleep(0.1)
                return time.perf_counter() - started
        finally:
            simulator.terminate()
            simulator.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    parser.add_argument("--level", choices=["orange", "red"], default="orange")
    parser.add_argument("--batch", type=int, default=100, help="JIAOYING_WEBHOOK_BATCH")
    args = parser.parse_args()
    regions, roster, people = xinjiang()
    what = "one SMS each" if args.level == "orange" else "an SMS and a voice call each"
    print(f"webhook: a {args.level} warning to {people:,} people ({what}), batches of {args.batch}, to the simulator")
    for backend in args.backend or ["sqlite", "postgresql"]:
        if backend == "postgresql" and not postgres_available():
            print("postgresql: not reachable on 127.0.0.1:5432, skipped")
            continue
        times = [run_once(backend, regions, roster, people, args.level, args.batch) for _ in range(args.runs)]
        if args.level == "orange":
            rates = [people / seconds for seconds in times]
            print(
                f"webhook, {backend:<10} median {statistics.median(rates):,.0f} messages/s end to end (target "
                f"{TARGET:,}/s; runs {', '.join(f'{rate:,.0f}' for rate in rates)})",
                flush=True,
            )
        else:
            print(
                f"webhook, {backend:<10} every first SMS of the red warning accepted {statistics.median(times):.1f} s "
                f"after its 201, median (runs {', '.join(f'{seconds:.1f}' for seconds in times)})",
                flush=True,
            )


if __name__ == "__main__":
    main()
