"""The migrations produce exactly the models' schema; new stores are stamped; old ones upgrade."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect
from sqlmodel import SQLModel
from typer.testing import CliRunner

from digest import store
from digest.cli import app
from digest.store.migrate import current, schema_diff, upgrade
from tests.conftest import ROOT

pytestmark = pytest.mark.store
HEAD = "0013"


def test_migrations_from_empty_give_the_models_schema(new_store_url):
    engine = create_engine(new_store_url(empty=True))
    assert upgrade(engine) == (None, HEAD)
    assert schema_diff(engine) == []


def test_a_store_at_the_first_revision_upgrades_to_the_workers_schema(new_store_url):
    engine = create_engine(new_store_url(empty=True))
    assert upgrade(engine, "0001") == (None, "0001")
    # claimed_by, ratelimit; the web tables (0004) and their indexes; the redundant item index (0005)
    assert {d[0] for d in schema_diff(engine)} == {"add_column", "add_table", "add_index", "remove_index"}
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


def _item_indexes(engine) -> set[str]:
    return {i["name"] for i in inspect(engine).get_indexes("deliveryitem")}


def test_0005_drops_the_item_index_the_unique_constraint_makes_redundant(new_store_url):
    engine = create_engine(new_store_url(empty=True))
    upgrade(engine, "0004")
    assert "ix_deliveryitem_delivery_id" in _item_indexes(engine)
    assert upgrade(engine, "0005") == ("0004", "0005")
    assert "ix_deliveryitem_delivery_id" not in _item_indexes(engine)
    assert {"ix_deliveryitem_article_id", "ix_deliveryitem_story_key"} <= _item_indexes(engine)


def test_0013_drops_the_item_indexes_no_query_reads(new_store_url):
    engine = create_engine(new_store_url(empty=True))
    upgrade(engine, "0012")
    assert {"ix_deliveryitem_article_id", "ix_deliveryitem_story_key"} <= _item_indexes(engine)
    assert upgrade(engine) == ("0012", HEAD)
    assert not {"ix_deliveryitem_article_id", "ix_deliveryitem_story_key"} & _item_indexes(engine)
    assert schema_diff(engine) == []


def test_db_commands(new_store_url):
    env = {"DIGEST_STORE_URL": new_store_url(empty=True)}
    runner = CliRunner()
    first = runner.invoke(app, ["--config", str(ROOT / "config.toml"), "db", "upgrade"], env=env)
    assert first.exit_code == 0 and f"store at revision {HEAD}" in first.output
    now = runner.invoke(app, ["--config", str(ROOT / "config.toml"), "db", "current"], env=env)
    assert now.exit_code == 0 and now.output.strip() == HEAD


# ── 0003: one subscriber per address, ids never reused ──────────────────────────────────────────────

def _store_at_0002_with_case_duplicates(url: str):
    """A store at 0002 holding one person three times (and two others), with deliveries and items."""
    from datetime import datetime, timezone

    from sqlalchemy import insert, text

    from digest.models import Article, DeliveryItem, Edition

    engine = create_engine(url)
    assert upgrade(engine, "0002") == (None, "0002")
    at = datetime(2026, 11, 20, 7, tzinfo=timezone.utc)
    with engine.begin() as conn:
        conn.execute(insert(Article.__table__), [
            dict(id=i, url=f"https://news.example.com/a/{i}", guid=f"g{i}", title=f"Story {i}", summary="", body="",
                 source="Outlet", topics=[], published_at=at, updated_at=at, content_hash="") for i in (1, 2, 3)])
        conn.execute(insert(Edition.__table__), [
            dict(id=i, key=f"daily:2026-11-2{i}", period="daily", date=f"2026-11-2{i}", cutoff_at=at, status="done",
                 created_at=at) for i in (1, 2, 3)])
        for sub_id, email, status in ((1, "Alice@Example.org", "active"), (2, "alice@example.org", "unsubscribed"),
                                      (3, "ALICE@EXAMPLE.ORG", "active"), (4, "bob@example.org", "active"),
                                      (5, "Carol@Example.ORG", "active")):
            conn.execute(text("INSERT INTO subscriber (id, email, name, status, topics, countries, frequency, send_at,"
                              " timezone, max_items, format, created_at, updated_at) VALUES (:id, :email, '', "
                              ":status, '[]', '[]', 'daily', '07:00', 'UTC', 10, 'html', :at, :at)"),
                         {"id": sub_id, "email": email, "status": status, "at": at.replace(tzinfo=None)})
        for delivery_id, edition_id, sub_id, status in ((1, 1, 1, "sent"), (2, 1, 2, "queued"), (3, 2, 2, "sent"),
                                                        (4, 3, 3, "sent"), (5, 1, 4, "sent")):
            conn.execute(text("INSERT INTO delivery (id, edition_id, subscriber_id, status, attempts, created_at, "
                              "updated_at) VALUES (:id, :e, :s, :status, 1, :at, :at)"),
                         {"id": delivery_id, "e": edition_id, "s": sub_id, "status": status,
                          "at": at.replace(tzinfo=None)})
        conn.execute(insert(DeliveryItem.__table__), [
            dict(delivery_id=d, article_id=a, story_key=f"a{a}", section="top", position=0, score=0.0, why={})
            for d, a in ((1, 1), (2, 1), (2, 2), (3, 3), (4, 1))])
        if conn.dialect.name == "postgresql":  # explicit ids: move the sequences past them, as inserts would
            for table in ("article", "edition", "subscriber", "delivery", "deliveryitem"):
                conn.execute(text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))"))
    return engine


def test_0003_merges_case_duplicates_keeping_every_delivery_and_reports_it(new_store_url, backend):
    from sqlalchemy import text

    url = new_store_url(empty=True)
    engine = _store_at_0002_with_case_duplicates(url)
    result = CliRunner().invoke(app, ["--config", str(ROOT / "config.toml"), "db", "upgrade"],
                                env={"DIGEST_STORE_URL": url})
    assert result.exit_code == 0, result.output
    assert "merged subscribers 2, 3 (alice@example.org, ALICE@EXAMPLE.ORG) into 1 (alice@example.org, " \
           "unsubscribed)" in result.output
    assert "identity: 2 case-duplicate subscribers merged" in result.output
    assert current(engine) == HEAD and schema_diff(engine) == []
    with engine.connect() as conn:
        subs = conn.execute(text("SELECT id, email, status, token_key FROM subscriber ORDER BY id")).all()
        deliveries = conn.execute(text("SELECT id, edition_id, subscriber_id, status FROM delivery ORDER BY id")).all()
        items = conn.execute(text("SELECT delivery_id, article_id FROM deliveryitem ORDER BY delivery_id, "
                                  "article_id")).all()
    assert [tuple(s[:3]) for s in subs] == [(1, "alice@example.org", "unsubscribed"),
                                           (4, "bob@example.org", "active"), (5, "carol@example.org", "active")]
    # edition 1: the sent delivery is kept, the queued duplicate goes (its items join the kept one): never re-sent
    assert [tuple(d) for d in deliveries] == [(1, 1, 1, "sent"), (3, 2, 1, "sent"), (4, 3, 1, "sent"),
                                             (5, 1, 4, "sent")]
    assert [tuple(i) for i in items] == [(1, 1), (1, 2), (3, 3), (4, 1)]
    if backend == "sqlite":  # ids may have been reused already: every subscriber gets a token identity
        assert all(s.token_key for s in subs)
    else:  # sequence ids were never reused: the links already sent keep working
        assert all(s.token_key is None for s in subs)
    assert upgrade(engine) == (HEAD, HEAD)


def test_after_0003_a_removed_id_is_never_handed_out_again(new_store_url):
    from sqlalchemy import text

    engine = _store_at_0002_with_case_duplicates(new_store_url(empty=True))
    upgrade(engine)
    with engine.begin() as conn:  # the newest subscriber and delivery deleted outright
        conn.execute(text("DELETE FROM delivery WHERE id = 5"))
        conn.execute(text("DELETE FROM subscription WHERE subscriber_id = 5"))
        conn.execute(text("DELETE FROM subscriber WHERE id = 5"))
    from datetime import datetime, timezone

    from digest.models import Subscriber

    with store.session_scope(store.open_engine(engine.url.render_as_string(hide_password=False))) as session:
        store.subscribers.upsert_subscribers(session, subscribers=[Subscriber(email="dave@example.org")],
                                 now=datetime.now(timezone.utc))
        assert store.subscribers.find_subscriber(session, email="dave@example.org").id == 6


def test_an_older_store_gets_the_new_subscriber_columns(store_url):
    """A store made before consent and pause existed: read-only opening says what to do, read-write adds them."""
    from sqlalchemy import text

    from digest.errors import StoreError

    made = store.open_engine(store_url)
    with made.begin() as db:
        db.execute(text("INSERT INTO subscriber (email, name, status, topics, countries, frequency, send_at, "
                        "timezone, max_items, format, created_at, updated_at) VALUES ('old@example.org', '', "
                        "'active', '[]', '[]', 'daily', '07:00', 'UTC', 10, 'html', '2026-01-01 00:00:00', "
                        "'2026-01-01 00:00:00')"))
        for column in ("consent_at", "consent_source", "paused_until"):
            db.execute(text(f"ALTER TABLE subscriber DROP COLUMN {column}"))
    made.dispose()
    with pytest.raises(StoreError, match="older digest .*subscriber.consent_at"):
        store.open_engine(store_url, readonly=True)
    engine = store.open_engine(store_url)
    with store.read_session(engine) as session:
        old = store.subscribers.find_subscriber(session, email="old@example.org")
    assert (old.status, old.consent_at, old.paused_until) == ("active", None, None)
    engine.dispose()
    store.open_engine(store_url, readonly=True).dispose()
