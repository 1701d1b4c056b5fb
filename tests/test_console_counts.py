"""The overview's shortcuts count what a plain count counts (src/digest/store/edition_holds.py): clicks per
edition from the click index alone when the edition's delivery ids are one unbroken range (joined to their
deliveries when another edition's ids are interleaved, or some were pruned), and the list size of the largest
newsletter as the whole table less the rest (SQLite; PostgreSQL counts directly)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func
from sqlmodel import select

from digest import store
from digest.models import CountedClick, Delivery, Edition, Subscriber, Subscription

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)


def _editions(session, owners: list[str]) -> dict[str, int]:
    """Editions a, b, c; one delivery per letter of `owners`, in that order (ids ascending); every delivery
    clicked once, every third twice. Returns {key: deliveries}."""
    ids = {}
    for key in sorted(set(owners)):
        edition = Edition(key=key, newsletter="digest", period="daily", date="2026-11-27", cutoff_at=NOW,
                          created_at=NOW)
        session.add(edition)
        session.flush()
        ids[key] = edition.id
    for n, key in enumerate(owners):
        reader = Subscriber(email=f"r{n}@example.com", created_at=NOW, updated_at=NOW)
        session.add(reader)
        session.flush()
        delivery = Delivery(edition_id=ids[key], subscriber_id=reader.id, created_at=NOW, updated_at=NOW)
        session.add(delivery)
        session.flush()
        for article in range(1 + (n % 3 == 0)):
            session.add(CountedClick(delivery_id=delivery.id, article_id=article + 1, clicked_at=NOW))
    return {key: owners.count(key) for key in ids}


def _clicks_joined(session, key: str) -> int:
    query = (select(func.count()).select_from(CountedClick).join(Delivery, Delivery.id == CountedClick.delivery_id)
             .join(Edition, Edition.id == Delivery.edition_id).where(Edition.key == key))
    return session.exec(query).one()


@pytest.mark.parametrize("owners", [
    ["a"] * 5 + ["b"] * 4,  # two unbroken ranges
    ["a", "b"] * 4 + ["a"],  # interleaved: every range holds the other edition's ids
    ["a"] * 3 + ["b"] * 2 + ["a"] * 3 + ["c"] * 2,  # b inside a's range; c after it
])
def test_clicks_per_edition_equal_the_joined_count(engine, owners):
    with store.session_scope(engine) as session:
        sizes = _editions(session, owners)
    with store.read_session(engine) as session:
        found = store.edition_holds.clicks_per_edition(session, sizes=sizes)
        expected = {key: _clicks_joined(session, key) for key in sizes}
    assert found == {k: n for k, n in expected.items() if n} and sum(found.values()) > len(owners)


def test_a_pruned_delivery_in_the_range_falls_back_to_the_join(engine):
    with store.session_scope(engine) as session:
        sizes = _editions(session, ["a"] * 6 + ["b"] * 3)
        first = session.exec(select(Delivery).order_by(Delivery.id).offset(2)).first()
        session.delete(first)  # its clicks stay (no foreign key): they are no longer a's
    with store.read_session(engine) as session:
        found = store.edition_holds.clicks_per_edition(session, sizes={**sizes, "a": 5})
        assert found["a"] == _clicks_joined(session, "a") and found["b"] == _clicks_joined(session, "b")


@pytest.mark.parametrize("largest", [True, False])
def test_the_list_size_of_either_newsletter_whichever_is_called_largest(engine, largest):
    with store.session_scope(engine) as session:
        for i in range(12):
            reader = Subscriber(email=f"r{i}@example.com", created_at=NOW, updated_at=NOW)
            session.add(reader)
            session.flush()
            for letter in ("alpha", "digest", "zulu")[: 1 + i % 3]:
                gone = (i + len(letter)) % 4 == 0
                session.add(Subscription(subscriber_id=reader.id, newsletter=letter, created_at=NOW,
                                         updated_at=NOW, status="unsubscribed" if gone else "active"))
    before = NOW + timedelta(days=1)
    with store.read_session(engine) as session:
        for letter in ("alpha", "digest", "zulu", "none"):
            alive, changes = store.edition_holds.subscriptions_since(session, newsletter=letter, before=before,
                                                                     largest=largest)
            expected = session.exec(select(func.count()).select_from(Subscription).where(
                Subscription.newsletter == letter, Subscription.status == "active")).one()
            assert (alive, changes) == (expected, [])
    assert expected == 0
