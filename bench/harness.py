"""What the benchmarks share: fresh databases, a real server on loopback, its peak memory, medians."""

import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
SHARED_REGIONS = ROOT.parent / "shared" / "data" / "regions" / "cn-regions.csv.gz"
TOKEN = "bench-admin-token"
POSTGRES = os.environ.get("JIAOYING_BENCH_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _psql(sql: str) -> None:
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc", sql],
        check=True,
        capture_output=True,
    )


@contextlib.contextmanager
def fresh_database(backend: str) -> Iterator[str]:
    """An empty, migrated database: a SQLite file, or a new PostgreSQL database dropped afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="jiaoying-bench-") as folder:
            url = f"sqlite+aiosqlite:///{folder}/bench.db"
            _migrate(url)
            yield url
        return
    name = f"jiaoying_bench_{os.getpid()}"
    _psql(f"DROP DATABASE IF EXISTS {name}")
    _psql(f"CREATE DATABASE {name}")
    try:
        url = f"{POSTGRES}/{name}"
        _migrate(url)
        yield url
    finally:
        _psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _migrate(url: str) -> None:
    env = {**os.environ, "JIAOYING_DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


class Server:
    """uvicorn serving the app on a free loopback port, in its own process."""

    secret = "bench-secret"

    def __init__(
        self, database_url: str, *, scheduler: bool = False, workers: int = 1, extra_env: dict[str, str] | None = None
    ) -> None:
        self.port = _free_port()
        env = {
            **os.environ,
            "JIAOYING_DATABASE_URL": database_url,
            "JIAOYING_ADMIN_TOKEN": TOKEN,
            "JIAOYING_SCHEDULER": "on" if scheduler else "off",
            "JIAOYING_PUBLIC_URL": f"http://127.0.0.1:{self.port}",
            "JIAOYING_SECRET_KEY": self.secret,
            # Each run's database is thrown away: its chain heads are not published beside the project.
            "JIAOYING_AUDIT_ANCHOR_FILE": "",
            **(extra_env or {}),
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app.main:app",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--workers",
                str(workers),
            ],
            cwd=ROOT,
            env=env,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz").status_code == 200:
                    return
            time.sleep(0.1)
        self.close()  # not left running without anyone to stop it
        raise RuntimeError("server did not become ready")

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=600)

    def peak_rss_mb(self) -> float:
        """The peak resident memory so far (VmHWM) of the server's largest process, in MB: with
        several workers, uvicorn's own process only watches them."""
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        peaks = [_peak_rss_mb(int(process)) for process in [pid, *children]]
        return max(peaks, default=float("nan"))

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def server(
    database_url: str, *, scheduler: bool = False, workers: int = 1, extra_env: dict[str, str] | None = None
) -> Iterator[Server]:
    running = Server(database_url, scheduler=scheduler, workers=workers, extra_env=extra_env)
    try:
        yield running
    finally:
        running.close()


class Outbox:
    """The console provider's outbox, read over one connection of its own. Polled cheaply: the
    highest sequence number is one index lookup (counting a growing table, or connecting anew each
    time, would take CPU from the sending it measures); the rows are counted once that says all
    might be there (a rolled-back batch leaves a gap in the sequence)."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        if url.startswith("sqlite"):
            import sqlite3

            self.sqlite = sqlite3.connect(url.split(":///", 1)[1])
        else:
            self.sqlite = None
            address = url.replace("postgresql+asyncpg", "postgresql")
            self.postgres = self.loop.run_until_complete(asyncpg.connect(address))

    def _value(self, query: str) -> int:
        if self.sqlite is not None:
            return int(self.sqlite.execute(query).fetchone()[0])
        return int(self.loop.run_until_complete(self.postgres.fetchval(query)))

    def holds(self, expected: int) -> bool:
        if self._value("SELECT coalesce(max(seq), 0) FROM console_outbox") < expected:
            return False
        return self.count() >= expected

    def count(self) -> int:
        return self._value("SELECT count(*) FROM console_outbox")

    def __enter__(self) -> "Outbox":
        return self

    def __exit__(self, *_: object) -> None:
        if self.sqlite is not None:
            self.sqlite.close()
        else:
            self.loop.run_until_complete(self.postgres.close())
        self.loop.close()


def postgres_available() -> bool:
    try:
        _psql("SELECT 1")
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


def report(label: str, seconds: list[float], memory: list[float], limit_s: float, limit_mb: float | None) -> None:
    median = statistics.median(seconds)
    runs = ", ".join(f"{s:.1f}" for s in seconds)
    line = f"{label:<34} median {median:6.1f} s (runs: {runs}; limit {limit_s:.0f} s"
    line += f", {median / limit_s:.0%} of it)"
    if memory:
        line += f"; peak server RSS {max(memory):.0f} MB"
        if limit_mb:
            line += f" (limit {limit_mb:.0f} MB)"
    print(line, flush=True)
