"""A scratch store: a bind for sessions that reads the store and keeps every write to itself (the dry run).

SQLite: the store is copied first into a private file in the temporary directory, removed afterwards (the
backup API reads the store as any reader does: its bytes and time stay as they were, and no writer waits for
it). PostgreSQL: one connection in one transaction,
rolled back at the end; it holds a SAVEPOINT, so each session bound to it works in a SAVEPOINT of its own
(SQLAlchemy's "join a session into an external transaction"). Its row locks last until that rollback, so
a real send claiming the same rows meanwhile waits for it. Sequences are not transactional: those the
scratch work advanced are set back afterwards inside the caller's `quiet` (the dry run: the sender and
planner locks, so no one else is inserting those rows), past every id in use; if it cannot be had, the ids
drawn are a gap, never reused.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool
from sqlmodel import SQLModel

from digest.errors import StoreError


Quiet = Callable[[], AbstractContextManager]  # held while no one else can insert rows (raises StoreError if not)


@contextmanager
def scratch_store(engine: Engine, *, quiet: Quiet | None = None) -> Iterator[Engine | Connection]:
    """What to pass where the send path takes an engine; nothing it writes outlives the block. `quiet` (the
    caller's locks): PostgreSQL sequences are set back only inside it; without it they are left as they are."""
    if engine.dialect.name == "sqlite":
        with _sqlite_copy(engine) as copy:
            yield copy
    else:
        with _rolled_back(engine, quiet) as conn:
            yield conn


@contextmanager
def _sqlite_copy(engine: Engine) -> Iterator[Engine]:
    """The store copied into a private file in the temporary directory (not memory: a large edition's rows
    would all be resident), written without a journal, and removed at the end."""
    with tempfile.TemporaryDirectory(prefix="digest-scratch-") as tmp:
        path = Path(tmp) / "scratch.db"
        copy_to = sqlite3.connect(path, check_same_thread=False)
        try:
            with engine.connect() as conn:
                conn.connection.dbapi_connection.backup(copy_to)
            for pragma in ("journal_mode=OFF", "synchronous=OFF", "foreign_keys=ON", "locking_mode=EXCLUSIVE",
                           "temp_store=MEMORY", "cache_size=-65536"):  # a private file: 64 MiB of cache
                copy_to.execute(f"PRAGMA {pragma}")
            copy = create_engine("sqlite://", creator=lambda: copy_to, poolclass=StaticPool)
            try:
                yield copy
            finally:
                copy.dispose()
        finally:
            copy_to.close()


@contextmanager
def _rolled_back(engine: Engine, quiet: Quiet | None) -> Iterator[Connection]:
    with engine.connect() as conn:
        conn = conn.execution_options(postgresql_readonly=False)  # a read-only engine's connection may write here
        before = _sequences(conn)
        conn.commit()
        outer = conn.begin()
        try:
            conn.begin_nested()
            yield conn
        finally:
            outer.rollback()
            if quiet is not None:
                _restore_sequences(conn, before, quiet)


def _sequences(conn: Connection) -> dict[str, tuple[str, int | None]]:
    """sequence → (its table, last value) for every id column of the models."""
    found = {}
    for table in SQLModel.metadata.sorted_tables:
        if "id" not in table.columns:
            continue
        seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name}).scalar()
        if seq:
            found[seq] = (table.name, conn.execute(text(f"SELECT last_value FROM {seq} WHERE is_called")).scalar())
    return found


def _restore_sequences(conn: Connection, before: dict[str, tuple[str, int | None]], quiet: Quiet) -> None:
    moved = {seq: (table, value) for seq, (table, value) in before.items()
             if _sequences_now(conn, seq) != value}
    if not moved:
        return
    try:
        with quiet(), conn.begin():
            for seq, (table, value) in moved.items():
                top = conn.execute(text(f'SELECT max(id) FROM "{table}"')).scalar()
                last = max(v for v in (value, top) if v is not None) if (value, top) != (None, None) else None
                conn.execute(text("SELECT setval(:s, :v, :called)"),
                             {"s": seq, "v": last or 1, "called": last is not None})
    except StoreError:
        pass  # someone else may be inserting: the ids drawn stay a gap


def _sequences_now(conn: Connection, seq: str) -> int | None:
    value = conn.execute(text(f"SELECT last_value FROM {seq} WHERE is_called")).scalar()
    conn.rollback()
    return value
