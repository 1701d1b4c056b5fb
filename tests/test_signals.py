"""The database aggregates engagement exactly as the pure ranking code does (SQL vs Python, same data)."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from digest import store
from digest.models import EngagementRecord
from digest.pipeline.plan import edition_plans, edition_signals, rank_params
from digest.ranking import signals_from_events
from tests.conftest import NOW
from tests.factories import article
from digest.models import Engagement
from sqlmodel import select

pytestmark = pytest.mark.store


def test_sql_signals_match_the_python_definition(engine, settings):
    rng = random.Random(3)
    plan = edition_plans(settings, NOW.date())[0]
    params = rank_params(settings, plan)
    with store.session_scope(engine) as session:
        store.articles.upsert_articles(session, articles=[article(i, NOW - timedelta(hours=rng.uniform(0.5, 40)))
                                                 for i in range(1, 61)], now=NOW)
        published = {a.id: a.published_at for a in store.articles.list_articles(session)}
        events = [(aid, NOW - timedelta(hours=rng.uniform(0, 45)), rng.choice(["view"] * 5 + ["click", "share",
                                                                                             "comment"]),
                   rng.randrange(1, 40)) for aid in published for _ in range(30)]
        store.engagement.add_engagement(session, events=events)
    with store.read_session(engine) as session:
        buckets = [EngagementRecord(e.article_id, e.hour, str(e.kind), e.count)
                   for e in session.exec(select(Engagement))]
        sql = edition_signals(session, plan, params)
    candidates = {i: p for i, p in published.items() if plan.window_start <= p < plan.cutoff}
    lookback = plan.cutoff - max(plan.cutoff - plan.window_start, timedelta(hours=27))
    python = signals_from_events([b for b in buckets if b.article_id in candidates and b.hour >= lookback],
                                 candidates, now=plan.cutoff, params=params)
    for article_id, value in python.engagement.items():
        assert sql.engagement.get(article_id, 0.0) == pytest.approx(value)
    assert sql.recent == {k: v for k, v in python.recent.items() if v}
    assert sql.baseline == {k: v for k, v in python.baseline.items() if v}
    assert sql.curve == pytest.approx(python.curve)
    assert set(sql.engagement) <= set(python.engagement)
    assert len(sql.recent) > 10 and len(sql.baseline) > 10 and len(sql.curve) > 10
