"""`jiaoying demo`: the whole chain moving on one machine within a minute.

On a fresh SQLite database (./jiaoying-demo.db): one county from the built-in region table, a
synthetic roster (two people per village, one per township and one for the county), the gateway
simulator answering a share of the people called, a red-warning policy with a one-minute deadline,
a duty officer's key, and a red warning. Then it prints where to look and how the answers come in,
until Ctrl-C. Everything goes through the public API, as an operator's scripts would.
"""

import contextlib
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import httpx

from app.region import builtin

DATABASE = Path("jiaoying-demo.db")
DEMO_POLICY = {
    "reach": ["county", "township", "village"],
    "ack_timeout_s": 60,
    "max_attempts": 2,
    "channels_by_attempt": [["sms", "voice"], ["voice"]],
    "escalate": True,
}


def _start(arguments: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, *arguments], env=env, cwd=Path.cwd())


def ensure_free(port: int, what: str, option: str) -> None:
    """Refuse to start on a port something else listens on: the demo would talk to it instead."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As uvicorn binds: a port the last run left in TIME_WAIT is free; one listened on is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise SystemExit(
                f"jiaoying demo: port {port} for the {what} is taken by another program ({exc.strerror}); "
                f"choose a free one with {option}"
            ) from None


def _wait_ready(url: str, processes: dict[str, subprocess.Popen[bytes]]) -> None:
    """Until the server answers ready, both processes still running (one that stopped, say on a
    port taken meanwhile, ends the demo with its exit code)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                raise SystemExit(f"jiaoying demo: the {name} stopped (exit {process.returncode}); see its output above")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise SystemExit("jiaoying demo: the server did not become ready within a minute")


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM and SIGHUP end the demo as Ctrl-C does: its processes stop with it


@contextlib.contextmanager
def _stopping_on_signals() -> Iterator[None]:
    before = {signal.SIGINT: signal.getsignal(signal.SIGINT)}  # _stop ignores it while stopping
    before |= {signum: signal.signal(signum, _terminated) for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


def _roster(regions_csv: bytes) -> str:
    """Two people per village, one per township and one for the county, on made-up numbers."""
    rng = random.Random()
    surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
    lines = ["name,phone,region_code,role,rank,channels"]
    for row in regions_csv.decode("utf-8").splitlines()[1:]:
        code, name, level, _ = row.split(",")
        if level not in ("county", "township", "village"):
            continue
        roles = {"village": ["村委会主任", "网格员"], "township": ["乡镇值班员"], "county": ["应急办主任"]}[level]
        for rank, role in enumerate(roles, start=1):
            person = rng.choice(surnames) + rng.choice("建国秀英志强丽华永红海燕文军")
            lines.append(f"{person},+86139{rng.randrange(10**8):08d},{code},{name}{role},{rank},sms|voice")
    return "\n".join(lines) + "\n"


def run(*, port: int, county: str, answer: float, gateway_port: int | None = None) -> None:
    """The tour on `port`, its simulated gateway on `gateway_port` (`port` + 100 by default); both
    must be free. It stops, with both processes, on Ctrl-C, SIGTERM or SIGHUP."""
    if len(county) != 6 or not county.isdigit():
        raise SystemExit("jiaoying demo: --county takes a 6-digit county code, e.g. 650107")
    gateway_port = port + 100 if gateway_port is None else gateway_port
    if gateway_port == port:
        raise SystemExit("jiaoying demo: the server and the gateway need ports of their own")
    ensure_free(port, "server", "--port")
    ensure_free(gateway_port, "simulated gateway", "--gateway-port")
    for leftover in (DATABASE, Path(f"{DATABASE}-wal"), Path(f"{DATABASE}-shm")):
        leftover.unlink(missing_ok=True)
    url = f"http://127.0.0.1:{port}"
    admin, secret = secrets.token_urlsafe(16), secrets.token_urlsafe(24)
    env = {
        **os.environ,
        "JIAOYING_DATABASE_URL": f"sqlite+aiosqlite:///./{DATABASE}",
        "JIAOYING_ADMIN_TOKEN": admin,
        "JIAOYING_PUBLIC_URL": url,
        "JIAOYING_PROVIDER": "webhook",
        "JIAOYING_WEBHOOK_URL": f"http://127.0.0.1:{gateway_port}/messages",
        "JIAOYING_WEBHOOK_SECRET": secret,
        "JIAOYING_SCHEDULER": "on",
        "JIAOYING_AUDIT_ANCHOR_FILE": "./jiaoying-demo-anchors.jsonl",
    }
    Path("jiaoying-demo-anchors.jsonl").unlink(missing_ok=True)
    subprocess.run([sys.executable, "-m", "app.cli", "migrate"], env=env, check=True)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    with _stopping_on_signals():
        try:
            processes["simulated gateway"] = _start(gateway_argv(gateway_port, url, answer), env)
            processes["server"] = _start(
                ["-m", "uvicorn", "app.main:app", "--port", str(port), "--log-level", "warning"], env
            )
            _wait_ready(url, processes)
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"}, timeout=60) as api:
                _tour(api, url, county)
        except KeyboardInterrupt:
            print("\njiaoying demo: stopped")
        finally:
            _stop(list(processes.values()))


def gateway_argv(port: int, callback: str, answer: float) -> list[str]:
    """The simulated gateway's command line. Its secret goes in the environment, not here: a random
    one may start with "-" (argparse would take it for an option), and `ps` shows command lines."""
    return ["-m", "app.notify.simulator", "--port", str(port), "--callback", callback, "--answer", str(answer),
            "--delay", "3:40"]  # fmt: skip


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """Terminate each process, and kill one that has not stopped within ten seconds; a second
    signal meanwhile does not cut this short."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tour(api: httpx.Client, url: str, county: str) -> None:
    spool, _, _ = builtin.spooled(builtin.BUILTIN_REGIONS, builtin.builtin_filter(county))
    regions_csv = spool.read()
    checked = api.post("/api/v1/regions/import", content=regions_csv, headers={"Content-Type": "text/csv"})
    checked.raise_for_status()
    if checked.json()["created"] == 0:
        raise SystemExit(f"jiaoying demo: no county has code {county}")
    api.post(
        "/api/v1/contacts/import", content=_roster(regions_csv).encode(), headers={"Content-Type": "text/csv"}
    ).raise_for_status()
    api.put("/api/v1/policies/red", json=DEMO_POLICY).raise_for_status()
    code = county + "000000"
    name = api.get(f"/api/v1/regions/{code}").json()["name"]
    key = api.post("/api/v1/keys", json={"name": "演示值班员", "role": "duty_officer", "region_code": code}).json()
    officer = {"Authorization": f"Bearer {key['token']}"}
    warning = api.post(
        "/api/v1/warnings",
        headers=officer,
        json={"hazard": "暴雨", "level": "red", "title": f"{name}暴雨红色预警（演示）", "mode": "exercise",
              "instruction": "立即组织危险区域人员转移", "area_codes": [code]},
    ).json()  # fmt: skip
    console = f"{url}/console (sign in with the key above; the board shows answers as they come)"
    print(f"""
叫应 demo: {name} ({code}), a red exercise warning to {warning["calls"]["total"]} people.
  duty officer's key  {key["token"]}
  console   {console}
  board     {url}/console/warnings/{warning["id"]}
  warning   {url}/api/v1/warnings/{warning["id"]}
  timeline  {url}/api/v1/warnings/{warning["id"]}/timeline
  API docs  {url}/docs
The simulated gateway answers for some people within 40 s; the rest are called again by voice and,
after a minute, escalated to the township. Ctrl-C stops the demo.
""")
    while True:
        time.sleep(5)
        state = api.get(f"/api/v1/warnings/{warning['id']}").json()
        by_status = ", ".join(f"{count} {status}" for status, count in state["calls"]["by_status"].items() if count)
        print(
            f"  {time.strftime('%H:%M:%S')}  calls: {by_status}; regions reached "
            f"{state['reached_regions']}/{state['targeted_regions']}; escalation calls {state['escalations']['total']}"
        )
