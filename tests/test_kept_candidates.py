"""`store.selection.kept_candidates` (the pool's rule in one SQL query, pruned by sampled floors) against a
straightforward computation in Python from the events as written: every candidate's decayed engagement, recent
and baseline views; every stored story's score and trend; per cell the `depth` best and the `depth` highest-z
rising stories by a plain sort. Generated stores where every cell is crowded, so the query's floors prune."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import timedelta

import pytest

from digest import store
from digest.ranking import RankParams, trend
from tests.conftest import NOW
from tests.factories import article

pytestmark = pytest.mark.store

PARAMS = RankParams()
START = NOW - timedelta(hours=36)
CURVE = {h: float(h % 4) for h in range(3, 28)}


def _fill(engine, seed: int, n: int, engaged: bool = True):
    """`n` articles in two topics × two countries (a few with both topics or no outlet), in stories of
    one to three articles (some from one outlet twice), one in ten new; returns (rows, events, keys)."""
    rng = random.Random(seed)
    rows, keys, events, i = [], {}, [], 0
    while i < n:
        size = rng.choice([1, 1, 1, 2, 3])
        topics = ["Sport", "science"] if rng.random() < 0.1 else [rng.choice(["Sport", "science"])]
        country, published = rng.choice(["Japan", "germany"]), NOW - timedelta(hours=rng.uniform(0.5, 40))
        for k in range(size):
            i += 1
            source = None if rng.random() < 0.05 else f"Outlet {rng.randrange(3 if size > 1 else 9)}"
            rows.append(article(i, published + timedelta(minutes=10 * k), topics=topics, country=country,
                                source=source, id=i))
            if size > 1 or rng.random() < 0.9:
                keys[i] = f"s{i - k}"
    for a in rows if engaged else ():
        for _ in range(rng.choice([0, 1, 3, 8])):
            hour = (NOW - timedelta(hours=rng.uniform(0, 45))).replace(minute=0, second=0, microsecond=0)
            events.append((a.id, hour, rng.choice(["view"] * 5 + ["click", "share", "comment"]),
                           int(rng.paretovariate(1.1) * 4)))
        if rng.random() < 0.05:
            events.append((a.id, (NOW - timedelta(hours=rng.randrange(1, 4))), "view", rng.randrange(20, 300)))
    with store.session_scope(engine) as session:
        store.articles.upsert_articles(session, articles=rows, now=NOW)
        store.engagement.add_engagement(session, events=events)
        store.stories.save_story_assignments(session, assignments=keys, now=NOW)
    return rows, events, keys


def _signals(rows, events):
    """article id → (E, recent views, baseline views), as the guide defines them, over [since, now)."""
    w, b = PARAMS.trending_window_hours, PARAMS.baseline_hours
    since = min(START, NOW - timedelta(hours=w + b))
    found = {a.id: [0.0, 0, 0] for a in rows if START <= a.published_at < NOW}
    for article_id, hour, kind, count in events:
        hour = hour.replace(minute=0, second=0, microsecond=0)
        if article_id not in found or not since <= hour < NOW:
            continue
        age = (NOW - hour).total_seconds() / 3600
        found[article_id][0] += PARAMS.weights[kind] * count * 2 ** (-age / PARAMS.half_life_hours)
        if kind == "view" and age <= w:
            found[article_id][1] += count
        elif kind == "view" and age <= w + b:
            found[article_id][2] += count
    return found


def _reference(rows, events, keys, depth: int, gravity: float = 0.0):
    signals = _signals(rows, events)
    candidates = [a for a in rows if a.id in signals]
    units = defaultdict(list)
    for a in candidates:
        if a.id in keys:
            units[keys[a.id]].append(a)
    engaged = any(e > 0 for e, _, _ in signals.values())
    score, rising, latest, cells = {}, {}, {}, defaultdict(set)
    for key, articles in units.items():
        cov = max(1, len({a.source for a in articles if a.source}))
        total = sum(signals[a.id][0] / (max(0.0, (NOW - a.published_at).total_seconds() / 3600) + 2) ** gravity
                    for a in articles)
        score[key] = total * math.log2(1 + cov) if engaged else float(cov)
        latest[key] = max(a.published_at for a in articles)
        trends = [trend((NOW - a.published_at).total_seconds() / 3600, signals[a.id][1], signals[a.id][2], CURVE,
                        PARAMS)[:2] for a in articles if signals[a.id][1]]
        z, x = max(trends, default=(None, 0))
        if z is not None and x >= PARAMS.trending_min_views and z >= PARAMS.trending_min_z:
            rising[key] = z
        for a in articles:
            for topic in a.topics or [""]:
                cells[key].add((topic.lower(), (a.country or "").lower()))
    kept = set()
    for order in (sorted(units, key=lambda k: (-score[k], -latest[k].timestamp(), k)),
                  sorted(rising, key=lambda k: (-rising[k], k))):
        seen = defaultdict(int)
        for key in order:
            for cell in cells[key]:
                seen[cell] += 1
                kept |= {key} if seen[cell] <= depth else set()
    ids = {a.id for key in kept for a in units[key]} | {a.id for a in candidates if a.id not in keys}
    return ids, signals


def _kept(session, depth: int, gravity: float = 0.0):
    return store.selection.kept_candidates(
        session, start=START, now=NOW, half_life_hours=PARAMS.half_life_hours, weights=PARAMS.weights,
        gravity=gravity, trending_window_hours=PARAMS.trending_window_hours, baseline_hours=PARAMS.baseline_hours,
        trending_min_views=PARAMS.trending_min_views, trending_min_z=PARAMS.trending_min_z, curve=CURVE,
        depth=depth)


def _sampled_everywhere(rows, keys, depth: int) -> bool:
    """Whether every cell holds `depth` stories of the query's one-in-eight sample (its floors then prune)."""
    first = defaultdict(lambda: math.inf)
    for a in rows:
        if a.id in keys and START <= a.published_at < NOW:
            first[keys[a.id]] = min(first[keys[a.id]], a.id)
    sampled = {k for k, i in first.items() if ((i * 2654435761) % 4294967296) // 536870912 == 0}
    counts = defaultdict(set)
    for a in rows:
        if keys.get(a.id) in sampled:
            for topic in a.topics or [""]:
                counts[topic.lower(), a.country.lower()].add(keys[a.id])
    return min(len(v) for v in counts.values()) >= depth


@pytest.mark.parametrize("seed,engaged,gravity", [(1, True, 0.0), (2, True, 1.5), (3, False, 0.0)])
def test_the_query_keeps_what_a_plain_sort_per_cell_keeps(engine, seed, engaged, gravity):
    rows, events, keys = _fill(engine, seed, n=1500, engaged=engaged)
    with store.read_session(engine) as session:
        for depth in (1, 3, 8):
            want, signals = _reference(rows, events, keys, depth, gravity)
            found = _kept(session, depth, gravity)
            assert sorted(r[0] for r in found) == sorted(want), depth
            for article_id, e, recent, baseline in found:
                assert e == pytest.approx(signals[article_id][0], rel=1e-9, abs=1e-12)
                assert (recent, baseline) == tuple(signals[article_id][1:])
            assert len(found) < 0.5 * len(signals)  # it left candidates out
    assert _sampled_everywhere(rows, keys, 3)  # the floors pruned at depth 1 and 3


def test_a_cell_the_sample_misses_keeps_its_best_beside_crowded_ones(engine):
    """A cell the sample misses has no floor (nor has a cell of no topic): its stories are ranked, none dropped
    for scoring below a crowded cell's floor."""
    rows, events, keys = _fill(engine, 4, n=1200)
    lone = [article(5000 + k, NOW - timedelta(hours=2 + k), topics=[["rare"], []][k % 2],
                    country=[None, "Chile"][k % 2], id=5000 + k, source=f"Outlet {k}") for k in range(4)]
    with store.session_scope(engine) as session:
        store.articles.upsert_articles(session, articles=lone, now=NOW)
        store.stories.save_story_assignments(session, assignments={a.id: f"r{a.id}" for a in lone}, now=NOW)
    keys |= {a.id: f"r{a.id}" for a in lone}
    with store.read_session(engine) as session:
        found = {r[0] for r in _kept(session, 2)}
    assert {a.id for a in lone} <= found
    assert found == _reference(rows + lone, events, keys, 2)[0]
    assert _sampled_everywhere(rows, keys, 2)


def test_a_story_trends_by_its_best_z_article_alone(engine):
    """A story's trend is its best-z article's (z, x): a young article of 10 views (z 3.13) outranks its sister's
    25 views (z 2.75 against 14 expected), and 10 is under the minimum, so the story is not rising (nor is a
    story of one such article); the cell's one place goes to the better scored story."""
    rows = [article(1, NOW - timedelta(hours=2), id=1, topics=["science"], country="Japan", source="A"),
            article(2, NOW - timedelta(hours=30), id=2, topics=["science"], country="Japan", source="B"),
            article(3, NOW - timedelta(hours=5), id=3, topics=["science"], country="Japan", source="C"),
            article(4, NOW - timedelta(hours=2), id=4, topics=["science"], country="Japan", source="D")]
    hour = NOW - timedelta(hours=1)
    events = [(1, hour, "view", 10), (2, hour, "view", 25), (2, NOW - timedelta(hours=10), "view", 112),
              (3, hour, "share", 500), (4, hour, "view", 10)]
    keys = {1: "s1", 2: "s1", 3: "t3", 4: "q4"}
    with store.session_scope(engine) as session:
        store.articles.upsert_articles(session, articles=rows, now=NOW)
        store.engagement.add_engagement(session, events=events)
        store.stories.save_story_assignments(session, assignments=keys, now=NOW)
    assert trend(2.0, 10, 0, CURVE, PARAMS)[0] > trend(30.0, 25, 112, CURVE, PARAMS)[0] >= PARAMS.trending_min_z
    with store.read_session(engine) as session:
        found = {r[0] for r in _kept(session, 1)}
    assert found == {3} == _reference(rows, events, keys, 1)[0]
