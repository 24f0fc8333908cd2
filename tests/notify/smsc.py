"""Kannel on loopback for the tests, as a county runs it: bearerbox and smsbox from Debian's
`kannel`, and `fakesmsc` from `kannel-extras` standing in for the carrier's SMSC (it logs every
message it is handed and sends, as a phone's reply, each line written to its input)."""

import contextlib
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote_to_bytes

from tests.ports import free_port

BEARERBOX = shutil.which("bearerbox") or "/usr/sbin/bearerbox"
SMSBOX = shutil.which("smsbox") or "/usr/sbin/smsbox"
FAKESMSC = "/usr/lib/kannel/test/fakesmsc"
INSTALLED = all(Path(path).exists() for path in (BEARERBOX, SMSBOX, FAKESMSC))
GOT = re.compile(r"Got message \d+: <(\S+) (\S+) (\S+) (.*)>$")
SERVICE_NUMBER = "12379"  # the number villagers reply to


CONF = """group = core
admin-port = {admin}
admin-password = admin
admin-interface = 127.0.0.1
smsbox-port = {boxes}
box-allow-ip = 127.0.0.1
log-file = "{folder}/bearerbox.log"
log-level = 1
store-type = file
store-location = "{folder}/store"
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = FAKE
port = {smsc}
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {boxes}
sendsms-port = {sendsms}
sendsms-interface = 127.0.0.1
global-sender = {service_number}
mo-recode = true
log-file = "{folder}/smsbox.log"
log-level = 1

group = sendsms-user
username = jiaoying
password = sendsms-password
concatenation = true
max-messages = 2

group = sms-service
keyword = default
catch-all = true
max-messages = 0
get-url = "{callbacks}/mo?from=%p&text=%a&id=%I"
"""


@dataclass
class Kannel:
    folder: Path
    callbacks: str  # {JIAOYING_PUBLIC_URL}/api/v1/providers/kannel/{secret}
    admin: int = field(default_factory=free_port)
    boxes: int = field(default_factory=free_port)
    smsc: int = field(default_factory=free_port)
    sendsms: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sendsms}/cgi-bin/sendsms"

    @property
    def conf(self) -> Path:
        return self.folder / "kannel.conf"

    def start(self) -> "Kannel":
        ports = {"admin": self.admin, "boxes": self.boxes, "smsc": self.smsc, "sendsms": self.sendsms}
        self.conf.write_text(
            CONF.format(folder=self.folder, callbacks=self.callbacks, service_number=SERVICE_NUMBER, **ports)
        )
        self.start_bearerbox()
        self._wait_port(self.boxes)
        self.processes["smsbox"] = self._run([SMSBOX, "-v", "1", str(self.conf)], "smsbox.out")
        self._wait_port(self.sendsms)
        if "fakesmsc" not in self.processes:
            self.start_smsc()
        return self

    def start_bearerbox(self) -> None:
        self.processes["bearerbox"] = self._run([BEARERBOX, "-v", "1", str(self.conf)], "bearerbox.out")

    def start_smsc(self) -> None:
        """fakesmsc in interactive mode: each line on its input is a phone's message."""
        self._wait_port(self.smsc)
        log = (self.folder / "fakesmsc.log").open("ab")
        self.processes["fakesmsc"] = subprocess.Popen(
            [FAKESMSC, "-H", "127.0.0.1", "-r", str(self.smsc), "-i", "0", "-v", "0"],
            stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def _run(self, command: list[str], output: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, cwd=self.folder, stdout=(self.folder / output).open("ab"),
                                stderr=subprocess.STDOUT)  # fmt: skip

    def _wait_port(self, port: int, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
            time.sleep(0.05)
        raise RuntimeError(f"Kannel did not open port {port}; see {self.folder}")

    def stop(self, *names: str) -> None:
        for name in names or ("fakesmsc", "smsbox", "bearerbox"):
            process = self.processes.pop(name, None)
            if process is None:
                continue
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def reply(self, phone: str, text: str) -> None:
        """A phone sends `text` to the service number (fakesmsc's input: sender receiver ucs2 data)."""
        process = self.processes["fakesmsc"]
        assert process.stdin is not None
        line = f"{phone.lstrip('+')} {SERVICE_NUMBER} ucs2 {quote(text.encode('utf-16-be'))}\n"
        process.stdin.write(line.encode())
        process.stdin.flush()
        time.sleep(1.2)  # fakesmsc reads its input once a second

    def handed(self) -> list[tuple[str, str]]:
        """Every message the SMSC was handed, as (to, text), its parts joined."""
        texts: list[tuple[str, str]] = []
        parts: dict[tuple[str, int], dict[int, bytes]] = {}
        for line in (self.folder / "fakesmsc.log").read_text(errors="replace").splitlines():
            found = GOT.search(line)
            if not found:
                continue
            _, to, kind, rest = found.groups()
            if kind == "ucs-2":
                texts.append((to, unquote_to_bytes(rest.replace("+", " ")).decode("utf-16-be")))
            elif kind == "udh":
                udh, _, data = rest.partition(" data ")
                header = unquote_to_bytes(udh)
                ref, total, number = header[3], header[4], header[5]
                pieces = parts.setdefault((to, ref), {})
                pieces[number] = unquote_to_bytes(data.replace("+", " "))
                if len(pieces) == total:
                    texts.append((to, b"".join(pieces[n] for n in sorted(pieces)).decode("utf-16-be")))
        return texts
