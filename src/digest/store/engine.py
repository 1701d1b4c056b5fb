"""The engine and sessions: opening a store (SQLite pragmas, the read-only engine), creating a new store's schema
(stamped at the newest migration) and adding the nullable columns a newer version appended, `session_scope`,
`read_session` and `ping`; and the helpers the table modules share: `_chunks` (short IN lists) and
`_dialect_insert` (the dialect's INSERT, for ON CONFLICT).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlmodel import Session, SQLModel, create_engine, select

from digest.errors import StoreError
from digest.models import Edition


# ── engine ──────────────────────────────────────────────────────────────────────────────────────────

def open_engine(url: str, *, readonly: bool = False, upgrading: bool = False) -> Engine:
    """An engine for `url`; a new SQLite file gets its schema. `readonly` never writes a byte. A store that
    needs a data migration first (a required column missing) is refused, unless `upgrading` (`digest db upgrade`)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = _server_engine(url)
        if readonly:
            engine = engine.execution_options(postgresql_readonly=True)
            _check_connects(engine, url)
    elif readonly:
        engine = _sqlite_readonly(parsed.database)
    else:
        engine = _sqlite_readwrite(parsed.database)
    if not readonly:
        _create_schema(engine, url)
    if not upgrading and (missing := _readable_missing_columns(engine, url, nullable=None if readonly else False)):
        raise StoreError(f"the store was made by an older digest (no column {missing[0]}): run `digest db upgrade` "
                         "to add the new columns")
    return engine


def _server_engine(url: str) -> Engine:
    try:
        return create_engine(url, pool_pre_ping=True)
    except ModuleNotFoundError as exc:  # the driver is an extra: pip install 'digest[postgres]'
        raise StoreError(f"cannot open store {make_url(url).render_as_string(hide_password=True)}: its driver "
                         f"{exc.name} is not installed (pip install 'digest[postgres]')") from None


def _sqlite_readwrite(database: str | None) -> Engine:
    if database and database != ":memory:":
        _create_private(Path(database))
    engine = create_engine(f"sqlite:///{database or ':memory:'}", connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(conn, _record):
        cur = conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA cache_size=-32768")  # 32 MiB of pages (default 2 MiB): planning's inserts stay in cache
        cur.close()

    return engine


def _create_private(path: Path) -> None:
    """A new store file is readable by its owner only (0600): it holds every reader's address. SQLite gives its
    -wal and -shm files the database file's mode, and the lock files beside it are made 0600 too (digest.lock)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as exc:
        raise StoreError(f"cannot create store {path}: {exc.strerror or exc}") from None


def _sqlite_readonly(database: str | None) -> Engine:
    if not database or database == ":memory:" or not Path(database).is_file():
        raise StoreError(f"no store at {database}: run `digest demo` or `digest ingest` first")
    uri = f"file:{Path(database).resolve()}?mode=ro"
    return create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False))


def _create_schema(engine: Engine, url: str) -> None:
    """A new store gets the models' schema and is stamped at the newest migration; an existing one gets the
    tables it lacks and the nullable columns a newer version appended, the rest is left to `digest db upgrade`."""
    from sqlalchemy import inspect

    try:
        new = not inspect(engine).get_table_names()
        SQLModel.metadata.create_all(engine)
        if new:
            from digest.store.migrate import stamp_head

            stamp_head(engine)
        _add_missing_columns(engine)
    except DatabaseError as exc:  # OperationalError, or a file that is not a database at all
        raise _cannot_open(url, exc) from None


def _readable_missing_columns(engine: Engine, url: str, *, nullable: bool | None) -> list[str]:
    try:
        return _missing_columns(engine, nullable=nullable)
    except DatabaseError as exc:  # e.g. a file that is not a database
        raise _cannot_open(url, exc) from None


def _check_connects(engine: Engine, url: str) -> None:
    """A server store that cannot be reached (no such database, server down) is one clear error, read-only too."""
    try:
        engine.connect().close()
    except OperationalError as exc:
        raise _cannot_open(url, exc) from None


def _cannot_open(url: str, exc: DatabaseError) -> StoreError:
    reason = " ".join(str(exc.orig).split())  # one line, whatever the driver wrote
    return StoreError(f"cannot open store {make_url(url).render_as_string(hide_password=True)}: {reason}")


def _add_missing_columns(engine: Engine) -> None:
    """Add the nullable columns a newer version appended to an existing table (a store keeps working)."""
    from sqlalchemy import text

    for name in _missing_columns(engine):
        table, column = name.split(".")
        kind = SQLModel.metadata.tables[table].columns[column].type.compile(dialect=engine.dialect)
        with engine.begin() as conn:
            conn.execute(text(f'ALTER TABLE "{table}" ADD COLUMN "{column}" {kind}'))


def _missing_columns(engine: Engine, *, nullable: bool | None = True) -> list[str]:
    """Each nullable (False: required; None: any) model column ("table.column") that an existing table lacks;
    new tables do not count."""
    try:
        present = _present_columns(engine)
    except OperationalError:
        return []  # not a store we can read: the first query says why
    tables = [t for t in SQLModel.metadata.sorted_tables if t.name in present]
    return [f"{t.name}.{c.name}" for t in tables for c in t.columns
            if c.name not in present[t.name] and nullable in (None, c.nullable)]


def _present_columns(engine: Engine) -> dict[str, set[str]]:
    """table → its columns, for every table the store has: on SQLite one query over pragma_table_info (the
    inspector asked once per table, which a cold `digest preview` paid for), elsewhere the inspector."""
    from sqlalchemy import inspect, text

    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT m.name, c.name FROM sqlite_master AS m, pragma_table_info(m.name) AS c "
                                     "WHERE m.type = 'table'")).all()
        present: dict[str, set[str]] = {}
        for table, column in rows:
            present.setdefault(table, set()).add(column)
        return present
    inspector = inspect(engine)
    return {t.name: {c["name"] for c in inspector.get_columns(t.name)} for t in SQLModel.metadata.sorted_tables
            if inspector.has_table(t.name)}


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A session that never commits: for previews and dry runs."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
        finally:
            session.expunge_all()  # what was read stays readable after the session ends
            session.rollback()


def ping(session: Session) -> None:
    """Raises when the store cannot answer (for `GET /healthz`)."""
    session.exec(select(Edition.id).limit(1)).first()


# ── helpers the table modules share ─────────────────────────────────────────────────────────────────

def _dialect_insert(session: Session, table):
    """The INSERT of the session's dialect (PostgreSQL or SQLite), which has `on_conflict_do_…`."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
