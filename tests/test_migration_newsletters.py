"""Revision 0006 on a store made by the main of before newsletters (tests/data/store_made_by_0004.db: `digest demo`
of commit f8f6d04 on 2026-12-02, one reader then unsubscribed): every subscriber and delivery moves into the
default newsletter, nothing is lost, and a send of the same day sends nobody anything again.

On PostgreSQL the fixture's rows are copied into a store brought to revision 0004 by the migrations, then
upgraded the same way."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, insert, select, text

from tests.test_migrations import HEAD
from digest import store
from digest.config.newsletters import Newsletter
from digest.errors import StoreError
from digest.operations.database import upgrade
from tests.factories import send_day

pytestmark = pytest.mark.store

FIXTURE = Path(__file__).parent / "data" / "store_made_by_0004.db"
DAY = date(2026, 12, 2)
LATER = datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)  # the same day, after the demo sent it


def _fixture_rows() -> dict[str, list[dict]]:
    engine = create_engine(f"sqlite:///{FIXTURE}")
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        return {t.name: [dict(r._mapping) for r in conn.execute(select(t))] for t in meta.sorted_tables
                if t.name != "alembic_version"}


def _store_at_0004(backend: str, new_store_url, tmp_path: Path) -> str:
    if backend == "sqlite":
        path = tmp_path / "old.db"
        shutil.copy(FIXTURE, path)
        return f"sqlite:///{path}"
    from digest.store.migrate import upgrade as migrate

    url = new_store_url(empty=True)
    engine = create_engine(url)
    migrate(engine, "0004")
    meta = MetaData()
    meta.reflect(engine)
    with engine.begin() as conn:
        for name, rows in _fixture_rows().items():
            if rows:
                conn.execute(insert(meta.tables[name]), rows)
        for table in ("article", "subscriber", "edition", "delivery", "deliveryitem", "engagement", "feed"):
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                              f"(SELECT coalesce(max(id), 1) FROM \"{table}\"))"))
    engine.dispose()
    return url


def _history(url: str) -> tuple[list, list, dict]:
    engine = create_engine(url)
    with engine.connect() as conn:
        deliveries = conn.execute(text("SELECT id, edition_id, subscriber_id, status, message_id FROM delivery "
                                       "ORDER BY id")).all()
        items = conn.execute(text("SELECT delivery_id, article_id, position FROM deliveryitem ORDER BY id")).all()
        subscribers = dict(conn.execute(text("SELECT email, status FROM subscriber")).all())
    engine.dispose()
    return [tuple(d) for d in deliveries], [tuple(i) for i in items], subscribers


@pytest.mark.parametrize("first", ["digest", "morning"])
def test_0006_moves_every_subscriber_and_delivery_into_the_default_newsletter_and_resends_nothing(
        backend, new_store_url, tmp_path, settings, smtpd, first):
    url = _store_at_0004(backend, new_store_url, tmp_path)
    before = _history(url)
    settings = replace(settings, store=replace(settings.store, url=url),
                       smtp=replace(settings.smtp, port=smtpd.port))
    if first != "digest":  # an operator who configured newsletters before upgrading: the first one inherits
        settings = replace(settings, configured_newsletters=(
            Newsletter(key=first, name="The Morning Briefing", list_id="morning.example.com",
                       from_name="Morning", from_address="morning@example.com"),
            Newsletter(key="woche", name="Die Woche", list_id="woche.example.com", from_name="Woche",
                       from_address="woche@example.com", schedule="weekly:wed", language="de")))
    with pytest.raises(StoreError, match="digest db upgrade"):  # the old store is refused until upgraded
        store.open_engine(url)
    lines = []
    done = upgrade(settings, report=lines.append)
    assert (done.before, done.after) == ("0004", HEAD)
    assert _history(url) == before  # every delivery, item and subscriber as it was
    assert any(f"subscribed to newsletter {first!r}" in line for line in lines)

    engine = store.open_engine(url)
    with store.read_session(engine) as session:
        keys = sorted(e.key for e in store.editions.editions_for_date(session, date=DAY.isoformat()))
        subs = store.subscribers.list_subscribers(session)
        subscriptions = store.subscriptions.subscriptions_of(session, subscriber_ids=[s.id for s in subs])
    assert keys == sorted([f"{first}:{DAY}", f"{first}:weekly:{DAY}"])
    assert all([x.newsletter for x in subscriptions[s.id]] == [first] for s in subs)
    unsubscribed = {s.email for s in subs if str(s.status) == "unsubscribed"}
    assert unsubscribed == {"jose.nunez@example.net"}
    assert {s.email for s in subs if str(subscriptions[s.id][0].status) == "unsubscribed"} == unsubscribed

    reports = send_day(engine, settings, clock=lambda: LATER, day=DAY)
    assert smtpd.handler.messages == []  # nobody gets the day's editions again
    assert all(r.counts.get("queued", 0) == 0 for r in reports)
    assert _history(url)[0] == before[0]
    engine.dispose()


def test_links_sent_before_0006_still_work_after_it(backend, new_store_url, tmp_path, settings):
    """The fixture's emails went out with `daily-…` archive links and unsubscribe tokens naming no newsletter:
    after the upgrade the first still shows that reader's email, the second leaves the first newsletter."""
    from starlette.testclient import TestClient

    from digest import urls
    from digest.send import RecordingMailer
    from digest.web import create_app

    url = _store_at_0004(backend, new_store_url, tmp_path)
    settings = replace(settings, store=replace(settings.store, url=url), secret_key="x" * 40)  # the demo's key
    upgrade(settings)
    engine = store.open_engine(url)
    with store.read_session(engine) as session:
        reader = next(s for s in store.subscribers.list_subscribers(session) if str(s.status) == "active")
        sent = store.deliveries.subscriber_delivery(session, edition_key=f"digest:{DAY}", subscriber_id=reader.id)
    assert sent is not None and str(sent[1].status) == "sent"
    old_archive = urls.archive_url(settings, reader.id, f"daily:{DAY}", reader.token_key)  # as 0004's main made it
    old_unsubscribe = urls.unsubscribe_url(settings, reader.id, reader.token_key)  # no newsletter in it
    base = settings.sender.base_url
    with TestClient(create_app(settings, engine, mailer=RecordingMailer(), clock=lambda: LATER), base_url=base) as client:
        page = client.get(old_archive[len(base):])
        assert page.status_code == 200 and reader.email not in page.text and "<html" in page.text
        assert client.post(old_unsubscribe[len(base):]).status_code == 200
    with store.read_session(engine) as session:
        (subscription,) = store.subscriptions.subscriptions_of(session, subscriber_ids=[reader.id])[reader.id]
    assert (subscription.newsletter, str(subscription.status)) == ("digest", "unsubscribed")
    engine.dispose()
