"""`digest db prune`: old finished editions go with their rows; open ones, recent ones and the floor hold."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from digest import store
from digest.errors import InputError
from digest.operations.retention import min_keep_days, prune
from tests.conftest import NOW
from tests.factories import seed, send_day

pytestmark = pytest.mark.store


def _keys(engine) -> list[str]:
    from sqlalchemy import text

    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT key FROM edition ORDER BY key"))]


def _count(engine, table: str) -> int:
    from sqlalchemy import text

    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()


def test_prune_deletes_old_finished_editions_only(engine, smtp_settings, smtpd):
    seed(engine, NOW, subscribers=3)
    old = NOW - timedelta(days=10)
    send_day(engine, smtp_settings, clock=lambda: NOW)  # today's edition: recent, kept
    with store.session_scope(engine) as session:  # an old edition, finished, and one still deferred
        for day, status in (("2026-11-15", "sent"), ("2026-11-16", "deferred")):
            edition = store.editions.ensure_edition(session, key=f"digest:{day}", period="daily", date=day,
                                           cutoff_at=old, now=old, newsletter="digest")
            store.deliveries.add_deliveries(session, edition_id=edition.id, now=old, planned=[
                (1, status, "v", None, [{"article_id": 1, "story_key": "s1", "section": "top",
                                                     "position": 0, "score": 1.0, "why": {}}]),
                (2, "sent", "v", None, [])])
    kept_items = _count(engine, "deliveryitem") - 1

    assert prune(engine, smtp_settings, today=NOW.date(), keep_days=8, dry_run=True) == (1, 2, 0)
    assert _count(engine, "delivery") == 3 + 4  # the dry run deleted nothing
    assert prune(engine, smtp_settings, today=NOW.date(), keep_days=8) == (1, 2, 1)
    assert _keys(engine) == ["digest:2026-11-16", "digest:2026-11-27"]  # still deferred: kept; recent: kept
    assert _count(engine, "delivery") == 3 + 2 and _count(engine, "deliveryitem") == kept_items
    assert prune(engine, smtp_settings, today=NOW.date(), keep_days=8) == (0, 0, 0)


def test_the_floor_is_the_longest_selection_window(engine, settings):
    assert min_keep_days(settings) == 8  # weekly editions look back 168 h
    with pytest.raises(InputError, match="--keep-days: at least 8"):
        prune(engine, settings, today=NOW.date(), keep_days=3)
    longer = replace(settings, selection=replace(settings.selection, weekly_window_hours=24 * 14))
    assert min_keep_days(longer) == 15


def test_prune_command_is_one_line_either_way(settings, tmp_path):
    from typer.testing import CliRunner

    from digest.cli import app
    from tests.conftest import ROOT

    env = {"DIGEST_STORE_URL": settings.store.url}
    runner = CliRunner()
    low = runner.invoke(app, ["--config", str(ROOT / "config.toml"), "db", "prune", "--keep-days", "3"], env=env)
    assert low.exit_code == 1 and low.output.strip() == \
        "error: --keep-days: at least 8: selection looks back 7 days for what a reader already got"
    ok = runner.invoke(app, ["--config", str(ROOT / "config.toml"), "db", "prune", "--keep-days", "30"], env=env)
    assert ok.exit_code == 0 and ok.output.strip() == "deleted 0 editions, 0 deliveries, 0 items"
