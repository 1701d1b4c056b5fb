"""A source's own "Trending" box (ingested from article pages) feeds the edition's trending section."""

from __future__ import annotations

from datetime import timedelta

import pytest

from digest import store
from digest.models import TrendingSignal
from digest.pipeline.plan import edition_plans, edition_ranking
from tests.conftest import NOW
from tests.factories import seed

pytestmark = pytest.mark.store


def test_headlines_a_page_lists_as_trending_become_trending_stories(engine, settings):
    seed(engine, NOW, subscribers=1)  # articles "Story number 1..12", no engagement at all
    boxes = [("STORY NUMBER 4", 1, NOW - timedelta(hours=2)), ("Story number 7!", 2, NOW - timedelta(hours=3)),
             ("Story number 9", 3, NOW - timedelta(days=5))]  # seen long before this edition's window: ignored
    with store.session_scope(engine) as session:
        store.trending.add_trending_signals(session, signals=[
            TrendingSignal(page_url="https://news.example.com/page", source="Outlet", title=title, rank=place,
                           seen_at=seen) for title, place, seen in boxes])
    plan = edition_plans(settings, NOW.date(), periods=("daily",))[0]
    with store.read_session(engine) as session:
        ranking = edition_ranking(session, settings, plan)
    assert [s.story.lead.title for s in ranking.trending] == ["Story number 4", "Story number 7"]
    assert [s.why()["source_trending_rank"] for s in ranking.trending] == [1, 2]
