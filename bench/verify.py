"""Verifying the audit record: 1,000,000 events walked and recomputed, streaming.

    python bench/verify.py [--runs 3] [--backend sqlite|postgresql] [--events 1000000]

The events are written by the service's own writer (audit.service.record_events), in 1,000
warning chains of 1,000 events shaped like a fan-out's `call.created`; then GET-equivalent
`audit.service.verify` runs in this process. Target (issue 6): under 30 s, memory flat.
"""

import argparse
import asyncio
import os
import resource
import statistics
import sys
import time
from pathlib import Path

from harness import fresh_database, postgres_available

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CHAINS = 1000


async def fill_and_verify(url: str, events: int) -> tuple[float, int]:
    os.environ["JIAOYING_DATABASE_URL"] = url
    from app import db
    from app.audit import service
    from app.db import session_scope, utc_now
    from app.ids import new_id

    database = db.configure(url)
    try:
        per_chain = events // CHAINS
        for _ in range(CHAINS):
            warning_id = new_id()
            batch = [
                service.Event(type="call.created", actor="值班员", warning_id=warning_id, call_id=new_id(),
                              region_code="650107001001",
                              data={"kind": "alert", "contact_id": new_id(), "name": f"责任人{n}",
                                    "phone": f"+86139{n:08d}", "role": "责任人", "rank": 1,
                                    "region_codes": ["650107001001"], "deadline_at": "2026-11-23T08:00:00+00:00"})
                for n in range(per_chain)
            ]  # fmt: skip
            async with session_scope() as session:
                await service.record_events(session, batch, chain=service.warning_chain(warning_id), now=utc_now())
        started = time.perf_counter()
        async with session_scope(read_only=True) as session:
            result = await service.verify(session)
        elapsed = time.perf_counter() - started
        assert result.ok and result.checked == per_chain * CHAINS, result
        return elapsed, result.checked
    finally:
        await database.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    for backend in args.backend or ["sqlite", "postgresql"]:
        if backend == "postgresql" and not postgres_available():
            print("postgresql: not reachable on 127.0.0.1:5432, skipped")
            continue
        times = []
        checked = 0
        for _ in range(args.runs):
            with fresh_database(backend) as url:
                elapsed, checked = asyncio.run(fill_and_verify(url, args.events))
                times.append(elapsed)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"verify, {backend:<10} {checked:,} events in {statistics.median(times):.1f} s median (target 30 s; runs "
            f"{', '.join(f'{t:.1f}' for t in times)}); peak RSS of this process {peak:.0f} MB",
            flush=True,
        )


if __name__ == "__main__":
    main()
