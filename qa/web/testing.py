"""A real server in a thread on a free loopback port (tests and benchmarks)."""
from __future__ import annotations

import threading
import time


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (tests and benchmarks start servers on it)."""
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ServerThread:
    """uvicorn in a background thread on 127.0.0.1 and a free port (tests, benchmarks)."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0):
        import uvicorn

        port = port or free_port(host)
        self.host, self.port = host, port
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        deadline = time.time() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.time() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
