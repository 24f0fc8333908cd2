"""`jiaoying demo` as a newcomer runs it: on ports of its choosing, refusing ports already taken, and
taking its server and simulated gateway down with it when it is told to stop."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[1]


def _demo(cwd: Path, *arguments: str) -> subprocess.Popen[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("JIAOYING_")}
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "demo", *arguments], cwd=cwd, env=env | {"PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_a_port_already_taken_is_refused_before_anything_starts(tmp_path: Path) -> None:
    port, gateway = free_port(), free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", gateway))
        taken.listen()
        demo = _demo(tmp_path, "--port", str(port), "--gateway-port", str(gateway))
        output, _ = demo.communicate(timeout=60)
    assert demo.returncode != 0
    assert f"port {gateway} for the simulated gateway is taken" in output and "--gateway-port" in output
    assert not _listening(port) and not (tmp_path / "jiaoying-demo.db").exists()


def test_sigterm_stops_the_demo_its_server_and_its_gateway(tmp_path: Path) -> None:
    port, gateway = free_port(), free_port()
    demo = _demo(tmp_path, "--port", str(port), "--gateway-port", str(gateway))
    assert demo.stdout is not None
    seen = []
    deadline = time.monotonic() + 90
    for line in demo.stdout:
        seen.append(line)
        if line.startswith("叫应 demo:"):
            break
        assert time.monotonic() < deadline, "".join(seen)
    assert _listening(port) and _listening(gateway), "".join(seen)  # the gateway on the port chosen
    demo.send_signal(signal.SIGTERM)
    demo.communicate(timeout=30)
    for _ in range(50):
        if not _listening(port) and not _listening(gateway):
            break
        time.sleep(0.1)
    assert not _listening(port) and not _listening(gateway)


def test_the_simulated_gateway_takes_any_secret_the_demo_makes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A random secret starting with "-" once stopped the demo's gateway at start (argparse took it
    for an option); the secret goes through the environment."""
    from app.demo import gateway_argv
    from app.notify import simulator

    monkeypatch.setenv("JIAOYING_WEBHOOK_SECRET", "-Xb2h_secret-starting-with-a-dash")
    args = simulator.parser().parse_args(gateway_argv(9100, "http://127.0.0.1:8000", 0.6)[2:])
    assert args.secret == "-Xb2h_secret-starting-with-a-dash" and args.port == 9100
