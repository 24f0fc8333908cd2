"""Messages through the webhook provider to the gateway simulator on loopback.

    python bench/webhook.py [--runs 3] [--backend sqlite|postgresql]

Xinjiang with three people per village and two per township and county (47,189 people); an
orange warning (its first attempt is one SMS each) over all of it. Measured: from the 201 to the
moment every message is recorded `sent` (claimed, signed and POSTed to the simulator, answered
2xx, recorded), with no rate limit and the simulator posting no receipts back. Target (issue 5):
at least 2,000 messages/s. Server, simulator and database share the machine's two cores.
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


def run_once(backend: str, regions: bytes, roster: bytes, people: int) -> float:
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
               "JIAOYING_WEBHOOK_SECRET": SECRET}  # fmt: skip
        try:
            with server(url, scheduler=True, extra_env=env) as running, running.client() as http:
                csv_type = {"Content-Type": "text/csv"}
                http.post("/api/v1/regions/import", content=regions, headers=csv_type).raise_for_status()
                http.post("/api/v1/contacts/import", content=roster, headers=csv_type).raise_for_status()
                body = {"hazard": "寒潮", "level": "orange", "title": "新疆寒潮橙色预警", "area_codes": ["650000"]}
                response = http.post("/api/v1/warnings", json=body)
                response.raise_for_status()
                started = time.perf_counter()
                sent = "SELECT count(*) FROM messages WHERE status = 'sent'"
                while count(url, sent) < people:
                    if time.perf_counter() - started > 300:
                        raise SystemExit(f"only {count(url, sent)} of {people} messages sent after 300 s")
                    time.sleep(0.1)
                return people / (time.perf_counter() - started)
        finally:
            simulator.terminate()
            simulator.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    args = parser.parse_args()
    regions, roster, people = xinjiang()
    print(f"webhook: {people:,} messages (orange, first attempt SMS) to the simulator on loopback")
    for backend in args.backend or ["sqlite", "postgresql"]:
        if backend == "postgresql" and not postgres_available():
            print("postgresql: not reachable on 127.0.0.1:5432, skipped")
            continue
        rates = [run_once(backend, regions, roster, people) for _ in range(args.runs)]
        print(
            f"webhook, {backend:<10} median {statistics.median(rates):,.0f} messages/s end to end (target "
            f"{TARGET:,}/s; runs {', '.join(f'{rate:,.0f}' for rate in rates)})",
            flush=True,
        )


if __name__ == "__main__":
    main()
