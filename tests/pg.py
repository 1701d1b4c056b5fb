"""A real PostgreSQL server in a temporary directory (Debian's `postgresql` binaries), for store tests."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.sink import free_port

BIN = next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)), None)


def _as_postgres(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    """initdb and the server refuse to run as root: run them as the `postgres` user when we are root."""
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


class TempPostgres:
    def __init__(self) -> None:
        if BIN is None:
            raise RuntimeError("PostgreSQL binaries not found: install Debian's postgresql package")
        self.dir = Path(tempfile.mkdtemp(prefix="digest-pg-"))
        self.port = free_port()
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)

    def start(self) -> TempPostgres:
        data = self.dir / "data"
        _as_postgres([f"{BIN}/initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                      "--no-sync"])
        _as_postgres([f"{BIN}/pg_ctl", "-D", str(data), "-w", "-l", str(self.dir / "log"), "-o",
                      f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                      "-c synchronous_commit=off -c full_page_writes=off", "start"])
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        _as_postgres([f"{BIN}/createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name])
        return self.url(name)

    def stop(self) -> None:
        try:
            _as_postgres([f"{BIN}/pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "stop"])
        finally:
            time.sleep(0.1)
            shutil.rmtree(self.dir, ignore_errors=True)
