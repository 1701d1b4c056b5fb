"""The app `digest serve` runs, served by uvicorn in a thread on a free loopback port: for the browser tests and
for the tests that need real concurrency (parallel requests) or real response times."""

from __future__ import annotations

import socket
import threading


class Served:
    """uvicorn in a thread, on a socket bound to 127.0.0.1:0 before it starts (no port race)."""

    def __init__(self, app) -> None:
        import uvicorn

        self.socket = socket.socket()
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted connections:
        self.socket.bind(("127.0.0.1", 0))  # no 40 ms Nagle/delayed-ACK stall between a response's head and body
        self.url = "http://127.0.0.1:%d" % self.socket.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        for _ in range(200):
            if self.server.started:
                return self
            self.thread.join(0.05)
        raise RuntimeError("uvicorn did not start")

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.socket.close()
