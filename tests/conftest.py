"""Shared fixtures. Tests marked `store` (module-wide in the store, pipeline and reliability modules) that use a
store through `backend` (and so `store_url`, `settings`, `engine`) run twice: `[sqlite]` on a file in the test's
directory and `[postgres]` on a fresh database of a real PostgreSQL server the session starts in a temporary
directory on first need. `sqlite_only("why")` keeps a test on SQLite alone.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from digest import store
from digest.config import load_settings
from tests.pg import BIN, Databases, TempPostgres
from tests.smtpd import ThreadedSMTPServer

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / "tests" / "data"  # copies of the shared sample data: the repository stands alone
NOW = datetime(2026, 11, 27, 7, 0, tzinfo=timezone.utc)  # the default edition's send time in tests
BACKENDS = ("sqlite", "postgres")
PG_ABSENT = "PostgreSQL binaries absent (Debian package postgresql; .ci/run installs it)"


def pytest_generate_tests(metafunc):
    definition = metafunc.definition
    if ("backend" in metafunc.fixturenames and definition.get_closest_marker("store")
            and not definition.get_closest_marker("sqlite_only")):
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def backend(request) -> str:
    """"sqlite" unless the test is parametrized over both backends."""
    name = getattr(request, "param", "sqlite")
    if name == "postgres" and BIN is None:
        pytest.skip(PG_ABSENT)
    return name


@pytest.fixture(scope="session")
def postgres_server():
    if BIN is None:
        pytest.skip(PG_ABSENT)
    server = TempPostgres().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_databases(postgres_server):
    databases = Databases(postgres_server)
    yield databases
    databases.close()


@pytest.fixture
def new_store_url(request, backend, tmp_path) -> Callable[..., str]:
    """`new_store_url(empty=False)`: the URL of another store of this test's backend. A new SQLite file (made on
    first open); a PostgreSQL database that has the schema already, or (`empty=True`) no tables."""
    if backend == "sqlite":
        names = (f"digest{'' if n == 0 else f'-{n}'}.db" for n in range(1_000))
        return lambda empty=False: f"sqlite:///{tmp_path / next(names)}"
    databases = request.getfixturevalue("postgres_databases")
    request.addfinalizer(databases.drop_all)
    return lambda empty=False: databases.empty() if empty else databases.store()


@pytest.fixture
def store_url(new_store_url) -> str:
    """This test's store: `sqlite:///<tmp_path>/digest.db` or a fresh PostgreSQL database."""
    return new_store_url()


def store_state(url: str):
    """Everything a store holds, to compare before and after something that must write nothing: the SQLite
    file's bytes; on PostgreSQL every table's rows and every sequence's position."""
    from sqlalchemy import MetaData, create_engine, select, text
    from sqlalchemy.pool import NullPool

    if url.startswith("sqlite"):
        gc.collect()  # engines left behind (e.g. by the CLI) close their SQLite connections
        return Path(url.removeprefix("sqlite:///")).read_bytes()
    engine = create_engine(url, poolclass=NullPool)
    try:
        meta = MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            rows = {t.name: sorted(map(repr, conn.execute(select(t)))) for t in meta.sorted_tables}
            sequences = conn.execute(text("SELECT sequencename, last_value FROM pg_sequences")).all()
        return rows, sorted(sequences)
    finally:
        engine.dispose()


@pytest.fixture
def settings(store_url):
    environ = {
        "DIGEST_STORE_URL": store_url,
        "DIGEST_SECRET_KEY": "test-secret-key-0123456789abcdef-0123",
        "DIGEST_SCHEDULE_TIMEZONE": "UTC",
        "DIGEST_SCHEDULE_SEND_AT": "07:00",
        "DIGEST_SMTP_HOST": "127.0.0.1",
        "DIGEST_SMTP_TLS": "none",
        "DIGEST_SMTP_TIMEOUT": "5",
        "DIGEST_RENDER_TEMPLATES": str(ROOT / "templates" / "email"),
    }
    return load_settings(ROOT / "config.toml", environ=environ)


@pytest.fixture
def engine(settings):
    eng = store.open_engine(settings.store.url)
    yield eng
    eng.dispose()


@pytest.fixture
def smtpd():
    with ThreadedSMTPServer() as server:
        yield server


@pytest.fixture
def smtp_settings(settings, smtpd):
    """Settings pointing at the test server."""
    return replace(settings, smtp=replace(settings.smtp, port=smtpd.port, connections=2))
