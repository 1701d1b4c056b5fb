"""Status writes carry their condition into the UPDATE itself: no write lands on a row that another process
(a worker, the tick, an operator) has moved on since, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import text

from digest import store
from digest.models import DeliveryStatus
from tests.conftest import NOW
from tests.factories import seed

pytestmark = pytest.mark.store


def _edition(engine, statuses: list[str]) -> int:
    """One edition with a delivery per status, for subscribers 1..n (ids 1..n in order)."""
    seed(engine, NOW, articles=1, subscribers=len(statuses))
    with store.session_scope(engine) as session:
        edition = store.editions.ensure_edition(session, key="digest:2026-11-27", period="daily", date="2026-11-27",
                                       cutoff_at=NOW, now=NOW, newsletter="digest")
        store.deliveries.add_deliveries(session, edition_id=edition.id, now=NOW,
                             planned=[(i, status, "v", None, []) for i, status in enumerate(statuses, 1)])
        return edition.id


def _statuses(engine) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT status FROM delivery ORDER BY id"))]


def test_a_send_time_skip_never_lands_on_a_row_already_sent(engine):
    _edition(engine, ["queued", "sent"])
    with store.session_scope(engine) as session:
        written = [store.deliveries.record_outcome(session, delivery_id=i, status=DeliveryStatus.skipped, now=NOW,
                                        error="paused", expect=store.deliveries.SENDABLE) for i in (1, 2)]
    assert written == [True, False]
    assert _statuses(engine) == ["skipped", "sent"]


def test_a_send_outcome_corrects_unknown_but_not_a_row_moved_on(engine):
    _edition(engine, ["sending", "unknown", "expired", "queued"])
    with store.session_scope(engine) as session:
        store.deliveries.record_outcomes(session, now=NOW, outcomes=[
            {"id": i, "status": DeliveryStatus.sent, "sent_at": NOW} for i in (1, 2, 3, 4)])
    assert _statuses(engine) == ["sent", "sent", "expired", "queued"]


def test_expiry_recovery_and_requeue_return_exactly_the_rows_they_moved(engine):
    edition_id = _edition(engine, ["queued", "deferred", "sending", "sent", "unknown"])
    with store.session_scope(engine) as session:
        assert store.delivery_status.expire_remaining(session, edition_id=edition_id, now=NOW) == [1, 2]
        assert store.deliveries.recover_interrupted(session, now=NOW) == [3]
        assert store.delivery_status.requeue_unknown(session, edition_id=edition_id, now=NOW, subscriber_ids=[5]) == [5]
    assert _statuses(engine) == ["expired", "expired", "unknown", "sent", "queued"]


@pytest.fixture
def pg_engine(postgres_databases):
    """PostgreSQL only: SQLite has one writer at a time, so this race cannot happen there."""
    engine = store.open_engine(postgres_databases.store())
    yield engine
    engine.dispose()
    postgres_databases.drop_all()


def test_expiry_racing_a_worker_leaves_the_row_it_just_sent(pg_engine):
    """A worker's transaction records `sent` while the tick expires the edition. The expiry waits on the
    row lock, then re-checks `status IN (queued, deferred)` and leaves the row alone (a select-then-
    update-by-id would have overwritten `sent` with `expired`)."""
    engine = pg_engine
    edition_id = _edition(engine, ["queued", "queued"])
    worker = engine.connect()
    tx = worker.begin()
    worker.execute(text("UPDATE delivery SET status = 'sent' WHERE id = 1"))  # locked, not yet committed
    expired: list[int] = []

    def expire() -> None:
        with store.session_scope(engine) as session:
            expired.extend(store.delivery_status.expire_remaining(session, edition_id=edition_id, now=NOW + timedelta(hours=13)))

    tick = threading.Thread(target=expire)
    tick.start()
    tick.join(0.5)
    assert tick.is_alive()  # waiting for the worker's row lock
    tx.commit()
    worker.close()
    tick.join(10)
    assert expired == [2]
    assert _statuses(engine) == ["sent", "expired"]
