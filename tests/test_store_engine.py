"""The store's engine: what opening an older store read-only tells the operator, and that the command it names
makes the store readable."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from digest import store
from digest.cli import app
from digest.errors import StoreError
from tests.conftest import ROOT

pytestmark = pytest.mark.store


def test_an_older_store_opened_read_only_names_db_upgrade_which_fixes_it(store_url):
    made = store.open_engine(store_url)
    with made.begin() as db:
        db.execute(text("ALTER TABLE subscriber DROP COLUMN paused_until"))
    made.dispose()
    with pytest.raises(StoreError, match=r"no column subscriber\.paused_until\): run `digest db upgrade` to add"):
        store.open_engine(store_url, readonly=True)
    result = CliRunner().invoke(app, ["--config", str(ROOT / "config.toml"), "db", "upgrade"],
                                env={"DIGEST_STORE_URL": store_url})
    assert result.exit_code == 0, result.output
    store.open_engine(store_url, readonly=True).dispose()
