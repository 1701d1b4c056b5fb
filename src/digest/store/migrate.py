"""Schema migrations (Alembic): `upgrade`, the current revision, and the difference from the models.

A new store gets the models' schema directly and is stamped at the newest revision; a store made before
migrations existed (no `alembic_version` table, tables present) is taken as the first revision.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files

from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from digest.errors import StoreError

BASELINE = "0001"


def keep_name(name, type_, _parent) -> bool:
    """procrastinate's tables share the database but are its own (its schema is applied by `digest.workers`)."""
    return not (type_ == "table" and name and name.startswith("procrastinate_"))


def _config(connection, report: Callable[[str], None] | None = None, newsletter: str | None = None):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(files("digest") / "migrations"))
    config.attributes["connection"] = connection
    config.attributes["report"] = report  # what a migration did to the data (e.g. 0003's merges)
    config.attributes["newsletter"] = newsletter  # the default newsletter's key: 0006 moves the history into it
    return config


def upgrade(engine: Engine, revision: str = "head", *, report: Callable[[str], None] | None = None,
            newsletter: str | None = None) -> tuple[str | None, str | None]:
    """Bring the store to `revision`: (revision before, revision after). `report` gets each line a migration
    reports about the data it changed; `newsletter` is the key of the default newsletter (the first one).

    On SQLite, foreign keys are off while the migrations run (rebuilding a referenced table needs it, as SQLite's
    own procedure for schema changes says) and checked before the commit: a violation rolls everything back."""
    from alembic import command

    before = current(engine)
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # outside any transaction, or SQLite ignores it
            conn.commit()
        try:
            with conn.begin():
                tables = set(inspect(conn).get_table_names())
                if before is None and tables - {"alembic_version"}:
                    command.stamp(_config(conn), BASELINE)  # made by `create_all` before migrations existed
                command.upgrade(_config(conn, report, newsletter), revision)
                if sqlite and (bad := conn.exec_driver_sql("PRAGMA foreign_key_check").first()):
                    raise StoreError(f"migration left a dangling reference in table {bad[0]}: nothing changed")
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()
    return before, current(engine)


def stamp_head(engine: Engine) -> None:
    from alembic import command

    with engine.begin() as conn:
        command.stamp(_config(conn), "head")


def current(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def schema_diff(engine: Engine) -> list:
    """What differs between the store's schema and the models (empty when they agree)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlmodel import SQLModel

    import digest.models  # noqa: F401

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": keep_name})
        return compare_metadata(context, SQLModel.metadata)
