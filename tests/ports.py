"""Loopback ports for the servers the tests start, and those servers run in a thread of their own."""

import socket
import threading
import time
from typing import Any

import uvicorn


def free_port() -> int:
    """A port nothing listens on now (the system's choice)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_in_thread(app: Any, port: int, what: str) -> tuple[uvicorn.Server, threading.Thread]:
    """An ASGI app served on 127.0.0.1:port from a thread, once it is listening."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, f"{what} did not start"
        time.sleep(0.02)
    return server, thread


def stop_serving(server: uvicorn.Server | None, thread: threading.Thread | None) -> None:
    """Stop a server from serve_in_thread: its port refuses connections afterwards."""
    if server is not None and thread is not None:
        server.should_exit = True
        thread.join(timeout=10)
