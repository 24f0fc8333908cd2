"""Real server processes on one database, nobody answering: every attempt goes out exactly once,
every escalation is opened once, and killing a process mid-run loses nothing.

PostgreSQL: three uvicorn processes share the work (row locks with SKIP LOCKED). SQLite: two, of
which one holds the scheduler lease and the other stands down. Each run gets a database of its
own (beside JIAOYING_TEST_DATABASE_URL's, or a temporary SQLite file), the scheduler on with a
tick of 0.2 s and a red policy of 4 seconds, so the whole chain (four attempts, township, county,
unreachable) plays out in about 13 seconds.
"""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.conftest import FIXTURES, POSTGRES_URL, ROOT, requires_postgres

TOKEN = "multiprocess-admin-token"
POLICY = {"reach": ["county", "township", "village"], "ack_timeout_s": 4, "max_attempts": 4,
          "channels_by_attempt": [["sms", "voice"]], "escalate": True, "escalate_above_county": False}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _migrate(url: str) -> None:
    # In a process of its own: Alembic's async environment runs its own event loop.
    migrate = [sys.executable, "-m", "alembic", "upgrade", "head"]
    subprocess.run(migrate, cwd=ROOT, env={**os.environ, "JIAOYING_DATABASE_URL": url}, check=True)


@contextmanager
def own_database() -> Iterator[str]:
    """A fresh, migrated database beside the test database, dropped afterwards."""
    if POSTGRES_URL is None:
        with tempfile.TemporaryDirectory(prefix="jiaoying-multiprocess-") as folder:
            url = f"sqlite+aiosqlite:///{folder}/jiaoying.db"
            _migrate(url)
            yield url
        return
    server, _ = POSTGRES_URL.rsplit("/", 1)
    name = f"jiaoying_multiprocess_{os.getpid()}"
    admin = f"{server}/postgres".replace("postgresql+asyncpg", "postgresql")

    def psql(sql: str) -> None:
        subprocess.run(["psql", admin, "-qc", sql], check=True, capture_output=True)

    psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    psql(f"CREATE DATABASE {name}")
    try:
        url = f"{server}/{name}"
        _migrate(url)
        yield url
    finally:
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def servers(url: str, count: int) -> Iterator[list[tuple[subprocess.Popen[bytes], str]]]:
    started = []
    for _ in range(count):
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "JIAOYING_DATABASE_URL": url, "JIAOYING_ADMIN_TOKEN": TOKEN, "JIAOYING_PUBLIC_URL": base,
               "JIAOYING_SCHEDULER": "on", "JIAOYING_TICK_SECONDS": "0.2", "JIAOYING_SEND_RECLAIM_S": "2",
               "JIAOYING_SECRET_KEY": "multiprocess-secret"}  # fmt: skip
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port), "--log-level", "warning"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        started.append((process, base))
    try:
        for _, base in started:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, f"{base} did not become ready"
                time.sleep(0.1)
        yield started
    finally:
        for process, _ in started:
            if process.poll() is None:
                process.terminate()
        for process, _ in started:
            process.wait(timeout=15)


def roster_csv() -> bytes:
    """达坂城区 (a county): two people per village, one per township, one for the county."""
    rows = ["name,phone,region_code,role,rank,channels"]
    number = 0
    for line in (FIXTURES / "regions.csv").read_text(encoding="utf-8").splitlines()[1:]:
        code, name, level, _ = line.split(",")
        if not code.startswith("650107"):
            continue
        for rank in range(1, 3 if level == "village" else 2):
            number += 1
            rows.append(f"{name}责任人{rank},+86137{number:08d},{code},责任人,{rank},sms|voice")
    return ("\n".join(rows) + "\n").encode()


@asynccontextmanager
async def engine_for(url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def scalar(engine: AsyncEngine, sql: str) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text(sql))).scalar() or 0)


async def run_chain(url: str, base: str, *, kill: subprocess.Popen[bytes] | None) -> str:
    """Load the county, issue a red warning through `base`, watch until nothing is open."""
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as api:
        csv = {"Content-Type": "text/csv"}
        (
            await api.post("/api/v1/regions/import", content=(FIXTURES / "regions.csv").read_bytes(), headers=csv)
        ).raise_for_status()
        (await api.post("/api/v1/contacts/import", content=roster_csv(), headers=csv)).raise_for_status()
        (await api.put("/api/v1/policies/red", json=POLICY)).raise_for_status()
        body = {"hazard": "暴雨", "level": "red", "title": "达坂城区暴雨红色预警", "instruction": "立即转移",
                "area_codes": ["650107"]}  # fmt: skip
        issued = await api.post("/api/v1/warnings", json=body)
        issued.raise_for_status()
    started = time.monotonic()
    async with engine_for(url) as engine:
        while True:
            # Never two open escalation calls for one supervisor, at any moment.
            doubled = await scalar(engine, "SELECT count(*) FROM (SELECT 1 FROM calls WHERE kind = 'escalation' "
                                   "AND status IN ('pending', 'notified') GROUP BY warning_id, contact_id "
                                   "HAVING count(*) > 1) AS doubled")  # fmt: skip
            assert doubled == 0
            if kill is not None and time.monotonic() - started > 5.0:  # mid-escalation
                kill.send_signal(signal.SIGKILL)
                kill.wait()
                kill = None
            waiting = await scalar(engine, "SELECT count(*) FROM calls WHERE status IN ('pending', 'notified')")
            unsent = await scalar(engine, "SELECT count(*) FROM messages WHERE status IN ('pending', 'sending')")
            if not waiting and not unsent and time.monotonic() - started > 13:
                break
            assert time.monotonic() - started < 90, f"{waiting} calls open, {unsent} messages unsent after 90 s"
            await asyncio.sleep(0.2)
    return str(issued.json()["id"])


async def check_exactly_once(url: str, warning_id: str) -> None:
    async with engine_for(url) as engine, engine.connect() as connection:
        alerts = (await connection.execute(text(
            "SELECT status, attempts, count(*) FROM calls WHERE warning_id = :w AND kind = 'alert' GROUP BY 1, 2"
        ), {"w": warning_id})).all()  # fmt: skip
        assert [(status, attempts) for status, attempts, _ in alerts] == [("unanswered", 4)], alerts
        people = alerts[0][2]
        # One message per channel per attempt: (call, attempt, channel) never twice, all handed over.
        per_attempt = (await connection.execute(text(
            "SELECT call_id, attempt, channel, count(*) FROM messages WHERE warning_id = :w "
            "GROUP BY 1, 2, 3 HAVING count(*) > 1"
        ), {"w": warning_id})).all()  # fmt: skip
        assert per_attempt == []
        alert_messages = await connection.scalar(text(
            "SELECT count(*) FROM messages m JOIN calls c ON c.id = m.call_id "
            "WHERE c.warning_id = :w AND c.kind = 'alert' AND m.status = 'sent'"
        ), {"w": warning_id})  # fmt: skip
        assert alert_messages == people * 4 * 2
        # Nothing lost: every message the sender made reached the provider, under its one id, but
        # for those it did not send, on record with why (a sender held back by a loaded machine
        # merges an escalation's missed attempt into the next, or finds its call closed).
        missing = (await connection.execute(text(
            "SELECT m.status, m.error FROM messages m LEFT JOIN console_outbox o ON o.message_id = m.id "
            "WHERE m.warning_id = :w AND o.message_id IS NULL"
        ), {"w": warning_id})).all()  # fmt: skip
        unexplained = [(status, error) for status, error in missing if status != "cancelled" or not error]
        assert unexplained == [], unexplained
        per_call = (await connection.execute(text(
            "SELECT count(*) FROM console_outbox o JOIN calls c ON c.id = o.call_id "
            "WHERE c.warning_id = :w AND c.kind = 'alert' GROUP BY o.call_id"
        ), {"w": warning_id})).scalars().all()  # fmt: skip
        assert set(per_call) == {8} and len(per_call) == people
        # Each region went to each supervisor once, and none went up twice from one level.
        elements = (
            "jsonb_array_elements_text(c.about_region_codes) AS r(value)"
            if POSTGRES_URL
            else "json_each(c.about_region_codes) AS r"
        )
        twice = (await connection.execute(text(
            f"SELECT c.contact_id, r.value FROM calls c, {elements} "
            "WHERE c.warning_id = :w AND c.kind = 'escalation' GROUP BY 1, 2 HAVING count(*) > 1"
        ), {"w": warning_id})).all()  # fmt: skip
        assert twice == []
        escalated = await connection.scalar(text(
            "SELECT count(*) FROM audit_events WHERE chain = :chain AND type = 'call.escalated'"
        ), {"chain": f"warning:{warning_id}"})  # fmt: skip
        assert escalated and escalated > 0
        states = dict((await connection.execute(text(
            "SELECT state, count(*) FROM warning_regions WHERE warning_id = :w GROUP BY 1"
        ), {"w": warning_id})).tuples().all())  # fmt: skip
        assert set(states) == {"unreachable"}, states  # nobody answered, up to the county and no further


@requires_postgres
@pytest.mark.parametrize("kill", [False, True], ids=["three-processes", "one-killed-mid-run"])
async def test_three_schedulers_send_and_escalate_exactly_once(kill: bool) -> None:
    with own_database() as url, servers(url, 3) as running:
        victim = running[1][0] if kill else None
        warning_id = await run_chain(url, running[0][1], kill=victim)
        await check_exactly_once(url, warning_id)


@pytest.mark.skipif(POSTGRES_URL is not None, reason="the SQLite lease; PostgreSQL shares the work instead")
async def test_on_sqlite_a_second_scheduler_stands_down() -> None:
    with own_database() as url, servers(url, 2) as running:
        warning_id = await run_chain(url, running[1][1], kill=None)
        await check_exactly_once(url, warning_id)
