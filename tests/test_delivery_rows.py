"""The bulk writes and reads of the send path on both backends: planned deliveries get their own items (readers
sharing a selection share one items list), and a batch reads back as plain rows."""

from __future__ import annotations

import json

import pytest

from digest import store
from digest.models import DeliveryStatus
from tests.conftest import NOW
from tests.factories import seed

pytestmark = pytest.mark.store


def _plan(engine, planned) -> int:
    with store.session_scope(engine) as session:
        edition = store.editions.ensure_edition(session, key="digest:2026-11-27", period="daily", date="2026-11-27",
                                                cutoff_at=NOW, now=NOW, newsletter="digest")
        planned_n = store.deliveries.add_deliveries(session, edition_id=edition.id, now=NOW, planned=planned)
        assert planned_n == len(planned)
        return edition.id


def test_deliveries_sharing_an_items_list_each_get_their_own_items(engine):
    seed(engine, NOW, articles=2, subscribers=4)
    shared = [{"article_id": 1, "story_key": "s1", "section": "top", "position": 0, "score": 2.5,
               "why": json.dumps({"also": [2]})},  # already JSON text, as the planner's Selector gives it
              {"article_id": 2, "section": "trending", "position": 1, "why": {"z": 1}}]  # a dict, defaults
    queued, skipped = DeliveryStatus.queued, DeliveryStatus.skipped
    edition_id = _plan(engine, [(3, queued, "v1", None, shared), (1, queued, "v1", None, shared),
                                (2, skipped, None, "paused", []), (4, queued, "v2", None, shared[:1])])
    with store.session_scope(engine) as session:
        rows = store.deliveries.sendable_deliveries(session, edition_id=edition_id, size=10, now=NOW)
        by_sub = {r.subscriber_id: r for r in rows}
        assert sorted(by_sub) == [1, 3, 4]  # the skipped one is not sendable
        assert by_sub[3].id < by_sub[1].id  # ids follow the planned order
        assert by_sub[4].variant_key == "v2" and by_sub[1].status == DeliveryStatus.queued
        assert by_sub[1].message_id is None and by_sub[1].claimed_by is None
        items = store.deliveries.delivery_items(session, delivery_ids=[r.id for r in rows])
    for sub in (1, 3):
        got = [(i.article_id, i.story_key, i.section, i.position, i.score, i.why) for i in items[by_sub[sub].id]]
        assert got == [(1, "s1", "top", 0, 2.5, {"also": [2]}), (2, "", "trending", 1, 0.0, {"z": 1})]
    assert [i.article_id for i in items[by_sub[4].id]] == [1]


def test_claim_writes_each_message_id_to_its_own_row(engine):
    seed(engine, NOW, articles=1, subscribers=3)
    edition_id = _plan(engine, [(i, DeliveryStatus.queued, "v", None, []) for i in (1, 2, 3)])
    with store.session_scope(engine) as session:
        ids = [r.id for r in store.deliveries.sendable_deliveries(session, edition_id=edition_id, size=10, now=NOW)]
        claimed = store.deliveries.claim(session, message_ids={i: f"<m{i}@x>" for i in ids[:2]}, now=NOW)
    assert claimed == {ids[0]: 1, ids[1]: 1}
    with store.session_scope(engine) as session:
        found = {i: store.deliveries.delivery_by_id(session, delivery_id=i) for i in ids}
        assert [(d.status, d.message_id) for d in found.values()] == [
            (DeliveryStatus.sending, f"<m{ids[0]}@x>"), (DeliveryStatus.sending, f"<m{ids[1]}@x>"),
            (DeliveryStatus.queued, None)]
