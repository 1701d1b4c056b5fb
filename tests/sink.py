"""Postfix's smtp-sink as a fast, fault-injecting SMTP peer on loopback, for the tests and the benchmarks.

`SmtpSink(options=["-r", "RCPT"]).start()` runs `smtp-sink` on a free port; with `dump=True` each
message is written to a file under `dump_dir`, so what the sink really received can be counted.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

SMTP_SINK = shutil.which("smtp-sink") or ("/usr/sbin/smtp-sink" if Path("/usr/sbin/smtp-sink").exists() else None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpSink:
    def __init__(self, options: list[str] | None = None, *, dump: bool = False, port: int | None = None,
                 backlog: int = 256) -> None:
        if SMTP_SINK is None:
            raise RuntimeError("smtp-sink not found: install Debian's postfix package")
        self.options = options or []
        self.port = port or free_port()
        self.dump_dir = Path(tempfile.mkdtemp(prefix="smtp-sink-")) if dump else None
        self.backlog = backlog
        self.proc: subprocess.Popen | None = None

    def start(self) -> SmtpSink:
        cmd = [SMTP_SINK, "-u", "root", "-m", "512", *self.options]
        if self.dump_dir:
            cmd += ["-d", f"{self.dump_dir}/%H%M/"]
        cmd += [f"127.0.0.1:{self.port}", str(self.backlog)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"smtp-sink exited: {self.proc.stderr.read().decode(errors='replace')}")
                time.sleep(0.05)
        raise RuntimeError("smtp-sink did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        if self.dump_dir:
            shutil.rmtree(self.dump_dir, ignore_errors=True)

    def received(self) -> Counter:
        """How many messages each recipient got (from the dump files)."""
        counts: Counter = Counter()
        for path in self.dump_dir.rglob("*"):
            if path.is_file():
                with open(path, "rb") as fh:
                    for line in fh:
                        if line.startswith(b"X-Rcpt-Args: <"):
                            counts[line[14:].split(b">")[0].decode()] += 1
                        elif not line.startswith(b"X-"):
                            break
        return counts
