"""Network helpers shared by the serving, monitoring and data tests: a free loopback port, a live server."""

from __future__ import annotations

import socket
import threading
from contextlib import contextmanager

import uvicorn


def free_port() -> int:
    """A loopback port nothing listens on (free when asked: for a URL that must not answer, or a server to start)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(app):
    """A real uvicorn server on a free loopback port, in a thread; yields (server, base URL) once it has started."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=10)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.02)
        assert server.started, "the server did not start"
        yield server, f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
