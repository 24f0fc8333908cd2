"""Acknowledgements through the link: throughput and latency at 32 concurrent clients.

    python bench/acks.py [--runs 3] [--backend sqlite|postgresql] [--seconds 4]

A red warning over Urumqi (1,247 regions, ten people per village) is issued with the scheduler
off, so only acknowledgements load the server; then wrk (Debian's `wrk`; a Python client tops out
near 300 requests/s here, below what is measured) POSTs the calls' links, each once, with
`Accept: application/json` over 32 connections. PostgreSQL runs two server processes, SQLite
one. Targets (issue 3): 1,500/s with p99 under 100 ms on PostgreSQL, 800/s on SQLite. Client and
server share the machine's two cores.
"""

import argparse
import csv
import gzip
import io
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import SHARED_REGIONS, fresh_database, postgres_available, server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app.call.tokens import derive_token

TARGETS = {"sqlite": 800, "postgresql": 1500}
CLIENTS = 32


def urumqi() -> tuple[bytes, bytes]:
    regions, roster = io.StringIO(), io.StringIO()
    region_writer, roster_writer = csv.writer(regions), csv.writer(roster)
    region_writer.writerow(["code", "name", "level", "parent_code"])
    roster_writer.writerow(["name", "phone", "region_code", "role", "rank", "channels"])
    people = 0
    with gzip.open(SHARED_REGIONS, "rt", encoding="utf-8") as source:
        for row in csv.DictReader(source):
            if not (row["code"].startswith("6501") or row["code"] == "650000000000"):
                continue
            region_writer.writerow([row["code"], row["name"], row["level"], row["parent_code"]])
            for rank in range(1, {"village": 11, "township": 3, "county": 3}.get(row["level"], 1)):
                people += 1
                roster_writer.writerow([f"责任人{people}", f"+86139{people:08d}", row["code"], "责任人", rank, "sms"])
    return regions.getvalue().encode(), roster.getvalue().encode()


WRK_SCRIPT = """
local tokens = {}
for line in io.lines(os.getenv("ACK_TOKENS")) do tokens[#tokens + 1] = line end
local i = 0
request = function()
  i = i + 1
  return wrk.format("POST", "/ack/" .. tokens[(i - 1) % #tokens + 1], {["Accept"] = "application/json"})
end
"""


def hammer(base_url: str, tokens: list[str], seconds: int) -> tuple[float, float, float, int]:
    """Requests/s, p50 and p99 in ms, and how many answers were not 2xx."""
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "tokens").write_text("\n".join(tokens) + "\n")
        Path(folder, "ack.lua").write_text(WRK_SCRIPT)
        output = subprocess.run(
            ["wrk", "-t1", f"-c{CLIENTS}", f"-d{seconds}s", "--latency", "-s", f"{folder}/ack.lua", base_url],
            env={**os.environ, "ACK_TOKENS": f"{folder}/tokens"}, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)

    def percentile(name: str) -> float:
        value, unit = re.search(rf"{name}%\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return rate, percentile("50"), percentile("99"), int(bad.group(1)) if bad else 0


def run_once(backend: str, regions: bytes, roster: bytes, seconds: int) -> tuple[float, float, float, int]:
    workers = 2 if backend == "postgresql" else 1
    with fresh_database(backend) as url, server(url, workers=workers) as running, running.client() as http:
        http.post("/api/v1/regions/import", content=regions, headers={"Content-Type": "text/csv"}).raise_for_status()
        http.post("/api/v1/contacts/import", content=roster, headers={"Content-Type": "text/csv"}).raise_for_status()
        body = {"hazard": "暴雨", "level": "red", "title": "乌鲁木齐暴雨红色预警", "area_codes": ["650100"]}
        warning = http.post("/api/v1/warnings", json=body).json()
        call_ids: list[str] = []
        cursor = None
        while True:
            page = http.get(f"/api/v1/warnings/{warning['id']}/calls", params={"limit": 1000, "cursor": cursor}).json()
            call_ids += [c["id"] for c in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        # People answer in no particular order: shuffle, so the order calls were listed in (by id,
        # roughly by region) does not decide how often two answers meet on one village.
        random.Random(20261122).shuffle(call_ids)
        tokens = [derive_token(running.secret.encode(), call_id) for call_id in call_ids]
        return hammer(running.url, tokens, seconds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--backend", choices=sorted(TARGETS), action="append")
    args = parser.parse_args()
    regions, roster = urumqi()
    for backend in args.backend or ["sqlite", "postgresql"]:
        if backend == "postgresql" and not postgres_available():
            print("postgresql: not reachable on 127.0.0.1:5432, skipped")
            continue
        results = [run_once(backend, regions, roster, args.seconds) for _ in range(args.runs)]
        rate = statistics.median(r[0] for r in results)
        print(
            f"acks, {backend:<10} median {rate:6.0f}/s (target {TARGETS[backend]}/s; runs "
            f"{', '.join(f'{r[0]:.0f}' for r in results)}); p99 {statistics.median(r[2] for r in results):.0f} ms "
            f"(target < 100 ms); p50 {statistics.median(r[1] for r in results):.0f} ms; {CLIENTS} connections; "
            f"non-2xx answers {sum(r[3] for r in results)}",
            flush=True,
        )


if __name__ == "__main__":
    main()
