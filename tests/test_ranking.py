"""Top and trending, as the ranking guide defines them. Pure functions, fixed `now`."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from digest.ranking import RankParams, decayed_engagement, rank, trending_z_scores
from digest.stories import Story, group_stories
from tests.factories import record, views

NOW = datetime(2026, 11, 27, 7, 0, tzinfo=timezone.utc)
H = timedelta(hours=1)
P = RankParams()


def stories(*records):
    return [Story(f"s{r.id}", (r,)) for r in records]


@pytest.mark.parametrize("kind, count, age_h, expected", [
    ("view", 10, 0, 10.0),
    ("view", 10, 12, 5.0),  # one half-life
    ("view", 10, 24, 2.5),
    ("comment", 1, 0, 2.0),
    ("click", 1, 0, 3.0),
    ("share", 1, 0, 5.0),
    ("share", 4, 12, 10.0),
    ("open", 100, 0, 0.0),  # opens are not a signal
])
def test_decayed_engagement_weights_and_half_life(kind, count, age_h, expected):
    scores = decayed_engagement([views(1, NOW - age_h * H, count, kind)], now=NOW, params=P)
    assert scores.get(1, 0.0) == pytest.approx(expected)


def test_events_after_now_do_not_count():
    assert decayed_engagement([views(1, NOW + H, 50)], now=NOW, params=P) == {}


def test_weekly_half_life_decays_slower():
    weekly = RankParams(half_life_hours=48)
    ev = [views(1, NOW - 48 * H, 8)]
    assert decayed_engagement(ev, now=NOW, params=weekly)[1] == pytest.approx(4.0)


def test_top_orders_by_engagement():
    a, b, c = record(1, NOW - 5 * H), record(2, NOW - 5 * H), record(3, NOW - 5 * H)
    events = [views(1, NOW - 2 * H, 10), views(2, NOW - 2 * H, 30), views(3, NOW - 2 * H, 1, "share")]
    ranking = rank(stories(a, b, c), events, now=NOW, params=P)
    assert [s.story.key for s in ranking.top] == ["s2", "s1", "s3"]
    assert ranking.top[0].basis == "engagement"


def test_gravity_pushes_old_articles_down():
    old, new = record(1, NOW - 40 * H), record(2, NOW - 2 * H)
    events = [views(1, NOW - H, 30), views(2, NOW - H, 20)]
    assert [s.story.key for s in rank(stories(old, new), events, now=NOW, params=P).top] == ["s1", "s2"]
    heavy = RankParams(gravity=1.5)
    assert [s.story.key for s in rank(stories(old, new), events, now=NOW, params=heavy).top] == ["s2", "s1"]


def test_story_score_sums_articles_and_boosts_coverage():
    a = record(1, NOW - 3 * H, source="BBC")
    b = record(2, NOW - 3 * H, source="CNN")
    story = Story("s1", (a, b))
    events = [views(1, NOW, 10), views(2, NOW, 6)]
    [scored] = rank([story], events, now=NOW, params=P).top
    assert scored.engagement == pytest.approx(16.0)
    assert scored.score == pytest.approx(16.0 * math.log2(3))
    assert scored.coverage == 2


def test_without_engagement_coverage_then_recency_rank_top():
    wide = Story("s1", (record(1, NOW - 20 * H, source="BBC"), record(2, NOW - 19 * H, source="CNN")))
    fresh = Story("s3", (record(3, NOW - 1 * H, source="DW"),))
    stale = Story("s4", (record(4, NOW - 30 * H, source="DW"),))
    ranking = rank([stale, fresh, wide], [], now=NOW, params=P)
    assert [s.story.key for s in ranking.top] == ["s1", "s3", "s4"]
    assert {s.basis for s in ranking.top} == {"coverage"}


def test_trending_needs_twenty_views_and_z_of_two():
    # an old article with a steady 10 views/hour, then a surge to 40/hour in the last three hours
    surge = record(1, NOW - 40 * H)
    steady = record(2, NOW - 40 * H)
    events = []
    for h in range(4, 28):
        events += [views(1, NOW - h * H, 10), views(2, NOW - h * H, 10)]
    for h in range(1, 4):
        events += [views(1, NOW - h * H, 40), views(2, NOW - h * H, 10)]
    z = trending_z_scores(stories(surge, steady), events, now=NOW, params=P)
    x, lam = 120, 30.0
    assert z[1] == pytest.approx(((x - lam) / math.sqrt(lam + 2), x, lam))
    ranking = rank(stories(surge, steady), events, now=NOW, params=P)
    assert [s.story.key for s in ranking.trending] == ["s1"]


def test_small_numbers_never_trend():
    quiet = record(1, NOW - 40 * H)
    events = [views(1, NOW - H, 19)]  # z is large against a zero baseline, but x < 20
    assert rank(stories(quiet), events, now=NOW, params=P).trending == ()


def test_young_article_is_compared_with_the_median_curve():
    # reference articles (older) had ~30 views in their hours 2..5; a 5-hour-old article with 33 is normal,
    # one with 150 is trending.
    refs = [record(i, NOW - 40 * H) for i in (10, 11, 12)]
    events = []
    for r in refs:
        for age in (3, 4, 5):
            events.append(views(r.id, r.published_at + (age - 1) * H, 10))
    normal, hot = record(1, NOW - 5 * H), record(2, NOW - 5 * H)
    for h in (1, 2, 3):
        events += [views(1, NOW - h * H, 11), views(2, NOW - h * H, 50)]
    ranking = rank(stories(*refs, normal, hot), events, now=NOW, params=P)
    assert [s.story.key for s in ranking.trending] == ["s2"]
    assert ranking.trending[0].expected_views == pytest.approx(30.0)


def test_group_stories_merges_reprints_only():
    a = record(1, NOW - 2 * H, title="Storm hits the coast", source="AP")
    b = record(2, NOW - H, title="Storm Hits The Coast!", source="Reuters", summary="a longer summary here")
    c = record(3, NOW - H, title="Markets rally")
    groups = group_stories([a, b, c])
    assert len(groups) == 2
    storm = next(g for g in groups if len(g.articles) == 2)
    assert storm.key == "s1"  # the earliest article names the story: stable as the story grows
    assert storm.lead.id == 2  # the most complete article leads


def test_a_sources_trending_box_names_trending_stories_after_the_accelerating_ones():
    """The guide: a site's own "Trending" list counts as a trending signal for the stories it names."""
    from dataclasses import replace

    from digest.ranking import named_trending, signals_from_events

    surge, named_a, named_b, quiet = (record(i, NOW - 20 * H, title=t) for i, t in
                                      [(1, "Surge"), (2, "Cockpit Confusion: Inside the Crash"),
                                       (3, "Markets Rally"), (4, "Quiet")])
    events = [views(1, NOW - 20 * H + h * H, 5) for h in range(17)] + [views(1, NOW - 3 * H + h * H, 60)
                                                                       for h in range(3)]
    published = {r.id: r.published_at for r in (surge, named_a, named_b, quiet)}
    signals = signals_from_events(events, published, now=NOW, params=P)
    box = [(None, "COCKPIT confusion — inside the crash", 2), (3, "Markets rally!", 1),
           (None, "Not among the candidates", 3)]
    named = named_trending(box, {r.id: r.title for r in (surge, named_a, named_b, quiet)})
    assert named == {2: 2, 3: 1}  # by title words (any case, punctuation), or by the linked article
    ranking = rank(stories(surge, named_a, named_b, quiet), replace(signals, named=named), now=NOW, params=P)
    assert [s.story.key for s in ranking.trending] == ["s1", "s3", "s2"]  # z first, then the box's order
    assert ranking.trending[1].why()["source_trending_rank"] == 1 and ranking.trending[0].trending_z >= 2
    assert "s4" not in [s.story.key for s in ranking.trending]
