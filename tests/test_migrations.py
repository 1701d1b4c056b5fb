"""The migrations produce exactly the models' schema; new stores are stamped; old ones upgrade."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine
from sqlmodel import SQLModel
from typer.testing import CliRunner

from digest import store
from digest.cli import app
from digest.store.migrate import current, schema_diff, upgrade
from tests.conftest import ROOT

pytestmark = pytest.mark.store
HEAD = "0004"  # 0003 (identity) comes between at merge


def test_migrations_from_empty_give_the_models_schema(new_store_url):
    engine = create_engine(new_store_url(empty=True))
    assert upgrade(engine) == (None, HEAD)
    assert schema_diff(engine) == []


def test_a_store_at_the_first_revision_upgrades_to_the_workers_schema(new_store_url):
    engine = create_engine(new_store_url(empty=True))
    assert upgrade(engine, "0001") == (None, "0001")
    # claimed_by, ratelimit; the web tables (0004) and their indexes
    assert {d[0] for d in schema_diff(engine)} == {"add_column", "add_table", "add_index"}
    assert upgrade(engine) == ("0001", HEAD)
    assert schema_diff(engine) == []


def test_a_new_store_is_stamped_at_the_newest_revision(new_store_url):
    engine = store.open_engine(new_store_url(empty=True))
    assert current(engine) == HEAD
    assert schema_diff(engine) == []
    assert upgrade(engine) == (HEAD, HEAD)


def test_a_store_made_before_migrations_is_taken_as_the_baseline(new_store_url):
    engine = create_engine(new_store_url(empty=True))
    SQLModel.metadata.create_all(engine)
    assert current(engine) is None
    assert upgrade(engine) == (None, HEAD)
    assert schema_diff(engine) == []


def test_db_commands(new_store_url):
    env = {"DIGEST_STORE_URL": new_store_url(empty=True)}
    runner = CliRunner()
    first = runner.invoke(app, ["--config", str(ROOT / "config.toml"), "db", "upgrade"], env=env)
    assert first.exit_code == 0 and f"store at revision {HEAD}" in first.output
    now = runner.invoke(app, ["--config", str(ROOT / "config.toml"), "db", "current"], env=env)
    assert now.exit_code == 0 and now.output.strip() == HEAD
