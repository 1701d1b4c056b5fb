"""Ranking in SQL and loading only the candidates that can reach a digest (`pipeline.pool`) gives every reader the
digest the full load gives, on generated stores with stored stories, new articles, topics, countries, trending
articles and readers with filters, caps and history."""

from __future__ import annotations

import random
import string
from dataclasses import replace
from datetime import timedelta

import pytest

from digest import store
from digest.pipeline import pool
from digest.pipeline.plan import diversity, edition_plans, edition_ranking, edition_signals, rank_params
from digest.select import select_for
from tests.conftest import NOW
from tests.factories import article, sub_record

pytestmark = pytest.mark.store

TOPICS = ["politics", "business", "sport", "science"]
COUNTRIES = ["Germany", "Japan", None]
KINDS = ["view"] * 6 + ["click", "share", "comment"]


def _words(rng: random.Random, n: int) -> str:
    """Made-up words no other story shares: stories never look alike, so clustering and diversity do not
    depend on which other candidates are loaded."""
    return " ".join("".join(rng.choice(string.ascii_lowercase) for _ in range(9)) for _ in range(n))


def _fill(engine, seed: int, n: int = 1200, engaged: bool = True) -> None:
    """`n` articles in stories of one to three outlets, each stored under its story's key (as an earlier edition
    clustered them) but one in ten, new; with engagement unless not `engaged`."""
    rng = random.Random(seed)
    articles, assignments, i = [], {}, 0
    while i < n:
        size = rng.choice([1, 1, 1, 2, 3])  # one article, or a stored story of two or three outlets' articles
        title, summary = _words(rng, 4), _words(rng, 8)
        topics = rng.choice([[rng.choice(TOPICS)], rng.sample(TOPICS, 2), []] if rng.random() < 0.2
                            else [[rng.choice(TOPICS)]])
        country, published = rng.choice(COUNTRIES), NOW - timedelta(hours=rng.uniform(0.5, 40))
        for k in range(size):
            i += 1
            articles.append(article(i, published + timedelta(minutes=10 * k), title=title, summary=summary,
                                    topics=topics, country=country, source=f"Outlet {rng.randrange(9)}", id=i))
            if size > 1 or rng.random() < 0.9:
                assignments[i] = f"s{i - k}"
    events = []
    for a in articles if engaged else ():
        for _ in range(rng.choice([0, 0, 1, 3, 8])):
            ago = rng.uniform(0, 30) if rng.random() < 0.8 else rng.uniform(0, 3)
            events.append((a.id, NOW - timedelta(hours=ago), rng.choice(KINDS), int(rng.paretovariate(1.1) * 4)))
        if rng.random() < 0.03:  # a burst: trending
            events.append((a.id, NOW - timedelta(minutes=rng.uniform(5, 170)), "view", rng.randrange(30, 400)))
    with store.session_scope(engine) as session:
        store.articles.upsert_articles(session, articles=articles, now=NOW)
        store.engagement.add_engagement(session, events=events)
        store.stories.save_story_assignments(session, assignments=assignments, now=NOW)


def _readers(rng: random.Random, top) -> list[tuple]:
    readers = [sub_record(1, max_items=5)]
    for i in range(2, 30):
        topics = tuple(rng.sample(TOPICS, rng.choice([0, 1, 1, 2, 3])))
        countries = tuple(c for c in rng.sample(COUNTRIES, rng.choice([0, 0, 1, 2])) if c)
        readers.append(sub_record(i, topics=topics, countries=countries, max_items=rng.choice([1, 3, 5])))
    sent = [set(a.id for e in rng.sample(top[:8], 3) for a in e.story.articles) if r.id % 3 == 0 else set()
            for r in readers]
    return list(zip(readers, sent))


def _picks(selection) -> list[tuple]:
    return [(p.section, p.entry.story.key, p.entry.story.lead.id, p.entry.story.article_ids, p.reason,
             round(p.entry.score, 6), p.entry.trending_z and round(p.entry.trending_z, 6)) for p in selection.picks]


@pytest.mark.parametrize("seed,gravity", [(1, 0.0), (2, 0.0), (3, 1.5)])
def test_the_pruned_pool_gives_every_reader_the_full_loads_digest(engine, settings, seed, gravity):
    settings = replace(settings, selection=replace(settings.selection, gravity=gravity))
    _fill(engine, seed)
    plan = edition_plans(settings, NOW.date())[0]
    depth = 3 * (5 + settings.selection.trending_items)  # `edition_depth` for readers of up to 5 stories
    with store.read_session(engine) as session:
        full = edition_ranking(session, settings, plan, depth=0)
        pruned = edition_ranking(session, settings, plan, depth=depth)
    loaded = {a.id for e in pruned.top for a in e.story.articles}
    everyone = {a.id for e in full.top for a in e.story.articles}
    assert loaded < everyone and len(loaded) < 0.7 * len(everyone)  # it did leave candidates out
    assert len(full.trending) >= 3 and any(len(e.story.articles) > 1 for e in full.top[:50])
    compared = 0
    for reader, sent in _readers(random.Random(seed), full.top):
        want, got = (select_for(reader, r, sent_articles=sent, sent_stories=set(),
                                trending_items=settings.selection.trending_items, diversity=diversity(settings))
                     for r in (full, pruned))
        assert _picks(got) == _picks(want), reader
        assert got.skip_reason == want.skip_reason
        compared += bool(want.picks)
    assert compared >= 20


def test_the_database_keeps_what_the_python_rule_keeps(engine, settings):
    _fill(engine, 4, n=600)
    plan = edition_plans(settings, NOW.date())[0]
    params = rank_params(settings, plan)
    with store.read_session(engine) as session:
        curve = pool.reference_curve(session, start=plan.window_start, now=plan.cutoff, params=params)
        for depth in (1, 2, 10):
            found = pool.edition_pool(session, start=plan.window_start, now=plan.cutoff, params=params, curve=curve,
                                      depth=depth)
            ids, engagement = pool._in_python(session, plan.window_start, plan.cutoff, params, curve, depth, None,
                                              set(), set())
            assert {a.id for a in found.articles} == set(ids)
            for i, value in found.signals.engagement.items():
                assert value == pytest.approx(engagement[i][0])
        signals = edition_signals(session, plan, params)
    for i, value in found.signals.engagement.items():
        assert value == pytest.approx(signals.engagement[i])
    assert found.signals.recent == {i: r for i, r in signals.recent.items() if i in found.signals.engagement}


def test_new_articles_of_one_event_are_loaded_whatever_their_own_score(engine, settings):
    """No engagement: a story's score is its outlets. Five outlets' new articles about one event score one each
    on their own, below the pool's depth in their cell, and five together: the top story, in the pruned pool too."""
    _fill(engine, 6, n=900, engaged=False)
    title, summary = "Senate confirms Betsy DeVos as education secretary", "Vice President casts tie-breaking vote"
    event = [article(2000 + k, NOW - timedelta(hours=30, minutes=k), title=title, summary=summary,
                     topics=["politics"], country="Japan", source=f"Outlet {k}", id=2000 + k) for k in range(5)]
    with store.session_scope(engine) as session:
        store.articles.upsert_articles(session, articles=event, now=NOW)
    plan = edition_plans(settings, NOW.date())[0]
    with store.read_session(engine) as session:
        full = edition_ranking(session, settings, plan, depth=0)
        pruned = edition_ranking(session, settings, plan, depth=3)
    assert {a.id for a in full.top[0].story.articles} == {a.id for a in event}
    assert [e.story.article_ids for e in pruned.top[:10]] == [e.story.article_ids for e in full.top[:10]]
    loaded = {a.id for e in pruned.top for a in e.story.articles}
    assert len(loaded) < 0.7 * len({a.id for e in full.top for a in e.story.articles})
