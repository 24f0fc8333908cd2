"""What the fault drills run on: a PostgreSQL cluster of their own (so it can be stopped and
killed), and the service in its own uvicorn process on loopback."""

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.conftest import ROOT
from tests.ports import free_port

TOKEN = "drill-admin-token"
_BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
PG_BIN = Path(_BINARIES[-1]) if _BINARIES else None


def _as_postgres(arguments: list[str]) -> list[str]:
    """initdb and the server refuse to run as root: run them as the postgres user then."""
    return ["runuser", "-u", "postgres", "--", *arguments] if os.geteuid() == 0 else arguments


class Cluster:
    """A throwaway PostgreSQL cluster on a free port, trust auth on loopback."""

    def __init__(self) -> None:
        assert PG_BIN is not None
        self.folder = Path(tempfile.mkdtemp(prefix="jiaoying-drill-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        subprocess.run(
            _as_postgres(
                [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
            ),
            check=True,
            capture_output=True,
        )
        self.start()
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-qc", "CREATE DATABASE jiaoying"],
            check=True,
            capture_output=True,
        )
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/jiaoying"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=on"
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"),
                          "-w", "start"]),
            check=True,
            capture_output=True,
        )  # fmt: skip

    def query(self, sql: str) -> list[str]:
        """Rows of a query as psql prints them unaligned (fields separated by |)."""
        result = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "jiaoying", "-tAc", sql],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        return result.stdout.splitlines()

    def stop(self) -> None:
        """Stop at once, as a crash or a pulled plug would (recovery replays the WAL at start)."""
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"]),
            check=True,
            capture_output=True,
        )

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


class Service:
    """uvicorn serving the app on a free loopback port, in its own process."""

    def __init__(self, database_url: str, **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "JIAOYING_DATABASE_URL": database_url,
            "JIAOYING_ADMIN_TOKEN": TOKEN,
            "JIAOYING_PUBLIC_URL": self.url,
            "JIAOYING_SECRET_KEY": "drill-secret",
            "JIAOYING_SCHEDULER": "on",
            "JIAOYING_TICK_SECONDS": "0.2",
            "JIAOYING_AUDIT_ANCHOR_FILE": "",
            **{f"JIAOYING_{name.upper()}": value for name, value in settings.items()},
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(self.port), "--log-level", "warning"],
            cwd=ROOT, env=self.env, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError("the service did not start")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def rss_mb(self) -> float:
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
            if self.process.poll() is None:
                self.kill()

    def client(self, token: str = TOKEN) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


@contextlib.contextmanager
def service(database_url: str, **settings: str) -> Iterator[Service]:
    running = Service(database_url, **settings)
    running.start()
    try:
        yield running
    finally:
        running.close()


def migrate(url: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=ROOT, env={**os.environ, "JIAOYING_DATABASE_URL": url}, check=True, capture_output=True,
    )  # fmt: skip
