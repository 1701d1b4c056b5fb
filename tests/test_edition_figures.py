"""An edition's story figures (store/edition_figures.py) are counted per content variant, from one delivery of
each: they equal the plain count over every delivery item, whatever the variants, statuses and clicks."""

from __future__ import annotations

from dataclasses import asdict

import pytest
from sqlalchemy import and_, case, func, select

from digest import store
from digest.models import DeliveryItem, DeliveryStatus
from digest.operations import editions as ops
from digest.store.deliveries import DELIVERY
from digest.store.edition_figures import CLICK, ITEM
from tests.conftest import NOW
from tests.factories import seed, send_day, subscriber

pytestmark = pytest.mark.store

KEY = f"digest:{NOW.date()}"
PREFERENCES = [(["politics"], 3), (["business"], 3), (["politics", "sport"], 5), ([], 4), ([], 2), (["science"], 4)]


def every_item(session, edition_id: int) -> list[tuple]:
    """(article, section, position, carried, sent, clicks) the slow way: a GROUP BY over every delivery item."""
    columns = (ITEM.c.article_id, ITEM.c.section, ITEM.c.position)
    sent = func.sum(case((DELIVERY.c.status == DeliveryStatus.sent, 1), else_=0))
    items = (select(*columns, func.count(), sent).select_from(ITEM.join(DELIVERY, DELIVERY.c.id == ITEM.c.delivery_id))
             .where(DELIVERY.c.edition_id == edition_id).group_by(*columns))
    clicks = (select(*columns, func.count())
              .select_from(CLICK.join(DELIVERY, DELIVERY.c.id == CLICK.c.delivery_id)
                           .join(ITEM, and_(ITEM.c.delivery_id == CLICK.c.delivery_id,
                                            ITEM.c.article_id == CLICK.c.article_id)))
              .where(DELIVERY.c.edition_id == edition_id).group_by(*columns))
    connection = session.connection()
    clicked = {(a, s, p): n for a, s, p, n in connection.execute(clicks)}
    rows = [(a, s, p, n, int(k or 0), clicked.get((a, s, p), 0)) for a, s, p, n, k in connection.execute(items)]
    return sorted(rows, key=lambda r: (r[1], r[2], r[0]))


@pytest.fixture
def edition(smtp_settings, smtpd, engine):
    return twelve_readers(smtp_settings, smtpd, engine)


def twelve_readers(smtp_settings, smtpd, engine) -> int:
    """Twelve readers over six preferences (several variants), two refused by the relay, and clicks on the
    first and third item of every other reader's delivery; the edition's id."""
    seed(engine, NOW, articles=20, subscribers=0)
    readers = [subscriber(f"reader{i}@example.com", name=f"Reader {i}", topics=PREFERENCES[i % 6][0],
                          max_items=PREFERENCES[i % 6][1]) for i in range(12)]
    with store.session_scope(engine) as session:
        store.subscribers.upsert_subscribers(session, subscribers=readers, now=NOW)
    smtpd.handler.rcpt_replies["reader4@example.com"] = "550 5.1.1 no such user"
    smtpd.handler.rcpt_replies["reader7@example.com"] = "554 5.7.1 rejected"
    send_day(engine, smtp_settings)
    with store.session_scope(engine) as session:
        edition_id = store.editions.find_edition(session, key=KEY).id
        items = session.exec(select(DeliveryItem.delivery_id, DeliveryItem.article_id, DeliveryItem.position)
                             .order_by(DeliveryItem.delivery_id)).all()
        for delivery_id, article_id, position in items:
            if delivery_id % 2 == 0 and position in (0, 2):
                store.engagement.count_click(session, delivery_id=delivery_id, article_id=article_id, now=NOW)
    return edition_id


def test_the_figures_per_variant_equal_the_count_over_every_item(engine, edition):
    with store.read_session(engine) as session:
        expected = every_item(session, edition)
        variants = {key for _, key, _ in store.edition_figures.status_variants(session, edition_id=edition)}
        found = store.edition_figures.item_figures(session, edition_id=edition)
    assert len(variants - {None}) >= 3 and sum(r[5] for r in expected) > 0
    assert any(r[3] > r[4] for r in expected)  # some carried but not sent: the refused readers
    assert [row[:6] for row in found] == expected


def test_the_edition_page_counts_variants_and_stories_from_the_same_pass(settings, engine, edition):
    detail = ops.edition_detail(settings, KEY, engine=engine)
    with store.read_session(engine) as session:
        counts = store.delivery_status.edition_counts(session, edition_id=edition)
        expected = every_item(session, edition)
    assert detail.summary.counts == counts and detail.summary.total == 12
    assert sum(n for _, n in detail.variants) == 12
    assert [(s.article_id, s.section, s.position, s.figures.carried, s.figures.sent, s.figures.clicks)
            for s in detail.stories] == expected
    assert all(s.title and s.why for s in detail.stories)
    assert detail.summary.doc() == asdict(detail.summary)  # the JSON's summary, built without asdict


def test_the_reasons_read_with_the_variants_are_those_of_digest_status(engine, edition):
    with store.read_session(engine) as session:
        groups, reasons = store.edition_figures.status_reasons(session, edition_id=edition)
        assert reasons == store.delivery_status.failure_reasons(session, edition_id=edition)
        assert groups == store.edition_figures.status_variants(session, edition_id=edition)
    assert {(status, code) for status, code, _, _ in reasons} >= {("bounced", 550), ("failed", 554)}


def test_the_clicks_are_kept_per_edition_until_a_new_click_changes_their_signature(engine, edition):
    figures = store.edition_figures
    with store.read_session(engine) as session:
        deliveries = sum(n for _, _, n in figures.status_variants(session, edition_id=edition))
        first = figures.cached_clicks(session, edition_id=edition, deliveries=deliveries)
        assert figures.cached_clicks(session, edition_id=edition, deliveries=deliveries) is first  # reused
        assert first == figures.variant_clicks(session, edition_id=edition)
        delivery_id, article_id = session.exec(
            select(DeliveryItem.delivery_id, DeliveryItem.article_id).join(DELIVERY, DELIVERY.c.id == DeliveryItem.delivery_id)
            .where(DELIVERY.c.status == DeliveryStatus.sent, DeliveryItem.position == 1)
            .order_by(DeliveryItem.delivery_id)).first()
    with store.session_scope(engine) as session:
        assert store.engagement.count_click(session, delivery_id=delivery_id, article_id=article_id, now=NOW)
    with store.read_session(engine) as session:
        again = figures.cached_clicks(session, edition_id=edition, deliveries=deliveries)
        assert again is not first and again == figures.variant_clicks(session, edition_id=edition)
        assert sum(again.values()) == sum(first.values()) + 1
        found = {(a, s, p): n for a, s, p, *_, n, _ in figures.item_figures(session, edition_id=edition)}
        assert found == {row[:3]: row[5] for row in every_item(session, edition)}


def test_clicks_counted_since_are_added_to_the_kept_ones_and_a_deleted_one_reads_them_all(engine, edition,
                                                                                        monkeypatch):
    figures = store.edition_figures
    every = figures.variant_clicks
    with store.read_session(engine) as session:
        deliveries = sum(n for _, _, n in figures.status_variants(session, edition_id=edition))
        first = figures.cached_clicks(session, edition_id=edition, deliveries=deliveries)
        unclicked = session.exec(
            select(DeliveryItem.delivery_id, DeliveryItem.article_id).join(DELIVERY, DELIVERY.c.id == DeliveryItem.delivery_id)
            .where(DELIVERY.c.status == DeliveryStatus.sent, DeliveryItem.position.in_([1, 3]))
            .order_by(DeliveryItem.delivery_id)).all()
    assert len(unclicked) >= 3
    with store.session_scope(engine) as session:
        for delivery_id, article_id in unclicked[:2]:
            assert store.engagement.count_click(session, delivery_id=delivery_id, article_id=article_id, now=NOW)
    calls = []
    monkeypatch.setattr(figures, "variant_clicks", lambda *a, **k: calls.append(1) or every(*a, **k))
    with store.read_session(engine) as session:
        added = figures.cached_clicks(session, edition_id=edition, deliveries=deliveries)
        assert calls == [] and added == every(session, edition_id=edition)  # only the two new ones read
        assert sum(added.values()) == sum(first.values()) + 2
    with store.session_scope(engine) as session:
        session.connection().execute(CLICK.delete().where(CLICK.c.id == select(func.min(CLICK.c.id)).scalar_subquery()))
        delivery_id, article_id = unclicked[2]
        assert store.engagement.count_click(session, delivery_id=delivery_id, article_id=article_id, now=NOW)
    with store.read_session(engine) as session:
        again = figures.cached_clicks(session, edition_id=edition, deliveries=deliveries)
        assert calls == [1] and again == every(session, edition_id=edition)  # one gone, one new: all read again
        assert sum(again.values()) == sum(added.values())


def test_a_click_committed_between_the_signature_and_the_full_read_is_counted_once(engine, edition, monkeypatch):
    """The signature and the figures are two statements: a click landing between them is not kept twice."""
    figures = store.edition_figures
    with store.read_session(engine) as session:
        delivery_id, article_id = session.execute(
            select(DeliveryItem.delivery_id, DeliveryItem.article_id)
            .join(DELIVERY, DELIVERY.c.id == DeliveryItem.delivery_id)
            .where(DELIVERY.c.status == DeliveryStatus.sent)
            .where(~select(CLICK.c.id).where(CLICK.c.delivery_id == DeliveryItem.delivery_id,
                                             CLICK.c.article_id == DeliveryItem.article_id).exists())
            .order_by(DeliveryItem.delivery_id)).first()
        deliveries = sum(n for _, _, n in figures.status_variants(session, edition_id=edition))
    real, raced = figures.click_signature, []

    def racing(session, *, edition_id):
        found = real(session, edition_id=edition_id)
        if not raced:  # a reader's click lands right after the first signature was read
            raced.append(True)
            with store.session_scope(engine) as other:
                store.engagement.count_click(other, delivery_id=delivery_id, article_id=article_id, now=NOW)
        return found

    monkeypatch.setattr(figures, "click_signature", racing)
    with store.read_session(engine) as session:
        first = figures.cached_clicks(session, edition_id=edition, deliveries=deliveries)
    monkeypatch.setattr(figures, "click_signature", real)
    with store.read_session(engine) as session:
        true = figures.variant_clicks(session, edition_id=edition)
        assert sum(first.values()) == sum(true.values())
        assert figures.cached_clicks(session, edition_id=edition, deliveries=deliveries) == true
        assert figures.cached_clicks(session, edition_id=edition, deliveries=deliveries) == true
