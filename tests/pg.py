"""A real PostgreSQL server in a temporary directory (Debian's `postgresql` binaries), for store tests."""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.sink import free_port

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

    def create_database(self, name: str, template: str = "template1") -> str:
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # ends connections a test left open

    def _execute(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(sql)

    def stop(self) -> None:
        try:
            _as_postgres([f"{BIN}/pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "stop"])
        finally:
            time.sleep(0.1)
            shutil.rmtree(self.dir, ignore_errors=True)


class Databases:
    """Fresh databases on one server: `store()` is a copy of a template that `digest` already gave its schema
    (as a new SQLite file gets on first open), `empty()` has no tables at all. `drop_all()` drops the ones
    handed out. The next `store()` copy is made in the background while a test runs (CREATE DATABASE takes
    a few tenths of a second; most of it is the server's work)."""

    TEMPLATE = "digest_template"

    def __init__(self, server: TempPostgres) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.server = server
        self.numbers = itertools.count()  # next() on it is atomic: both threads take names from it
        self.made: list[str] = []
        self.dropping: list = []
        self.maker = ThreadPoolExecutor(1, thread_name_prefix="digest-pg")
        self.next_store = None

    def store(self) -> str:
        if self.next_store is None:
            from digest import store

            store.open_engine(self.server.create_database(self.TEMPLATE)).dispose()
            self.next_store = self.maker.submit(self._create, self.TEMPLATE)
        name, url = self.next_store.result()
        self.next_store = self.maker.submit(self._create, self.TEMPLATE)
        self.made.append(name)
        return url

    def empty(self) -> str:
        name, url = self._create("template1")
        self.made.append(name)
        return url

    def _create(self, template: str) -> tuple[str, str]:
        name = f"digest_{next(self.numbers)}"
        return name, self.server.create_database(name, template)

    def drop_all(self) -> None:
        """Drop the databases handed out so far, in the background (the next test need not wait)."""
        while self.made:
            self.dropping.append(self.maker.submit(self.server.drop_database, self.made.pop()))

    def close(self) -> None:
        self.maker.shutdown(wait=True)
        for dropped in self.dropping:
            dropped.result()  # a drop that failed says so at the end of the session
