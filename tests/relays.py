"""Broken relays as real sockets on loopback: one that accepts TCP and never greets, one that greets with a
refusal and hangs up, and a port nobody listens on. Each counts the connections it accepted."""

from __future__ import annotations

import socket
import threading


def closed_port() -> int:
    """A loopback port with no listener: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TcpRelay:
    """`with TcpRelay() as r:` accepts and says nothing; `TcpRelay(b"421 busy")` greets with that line and closes.
    `r.accepted` counts the connections taken."""

    def __init__(self, greeting: bytes | None = None) -> None:
        self.greeting = greeting
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.open: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            if self.greeting is None:
                self.open.append(conn)  # keep it open, say nothing
            else:
                try:
                    conn.sendall(self.greeting.rstrip(b"\r\n") + b"\r\n")
                finally:
                    conn.close()

    def __enter__(self) -> TcpRelay:
        self.sock.listen(64)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the serving thread
        except OSError:
            pass
        self.sock.close()
        for conn in self.open:
            conn.close()
        self.thread.join(5)
