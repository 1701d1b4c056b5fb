"""Process locks per store, released by the operating system when the process dies.

SQLite: `flock` on a file beside the database. PostgreSQL: a session advisory lock on a dedicated
connection. Used so that only one daemon runs per store and only one process sends at a time (a sender
may then safely turn rows a dead process left in `sending` into `unknown`).
"""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

from digest.errors import StoreError


class LockBusy(StoreError):
    """Another live process holds the lock."""


@contextmanager
def exclusive(engine: Engine, name: str, *, wait: float = 0.0, poll: float = 0.2) -> Iterator[None]:
    """Hold the store-wide lock `name` ("daemon", "sender") for the duration of the block."""
    if engine.dialect.name == "sqlite":
        with _file_lock(engine, name, wait, poll):
            yield
    else:
        with _advisory_lock(engine, name, wait, poll):
            yield


@asynccontextmanager
async def exclusive_async(engine: Engine, name: str, *, wait: float = 0.0) -> AsyncIterator[None]:
    """`exclusive` for a coroutine: taken and released in a thread (waiting blocks no event loop), held
    across the awaits of the block (the planner's lock spans planning and enqueueing its shards)."""
    import asyncio

    held = exclusive(engine, name, wait=wait)
    await asyncio.to_thread(held.__enter__)
    try:
        yield
    finally:
        await asyncio.to_thread(held.__exit__, None, None, None)


@contextmanager
def _file_lock(engine: Engine, name: str, wait: float, poll: float) -> Iterator[None]:
    import fcntl

    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    path = Path(f"{database}.{name}.lock")
    with open(os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600), "a+") as fh:  # owner only, like the store
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    fh.seek(0)
                    holder = fh.read().strip() or "?"
                    raise LockBusy(f"another digest process (pid {holder}) holds the {name} lock for "
                                   f"{database}; wait for it to finish or stop it") from None
                time.sleep(poll)
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextmanager
def _advisory_lock(engine: Engine, name: str, wait: float, poll: float) -> Iterator[None]:
    key = zlib.crc32(f"digest:{name}".encode())
    with engine.connect() as conn:
        deadline = time.monotonic() + wait
        while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
            if time.monotonic() >= deadline:
                raise LockBusy(f"another digest process holds the {name} lock for this database; "
                               "wait for it to finish or stop it")
            time.sleep(poll)
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
