"""Top and trending scores, as defined in the ranking guide. Pure: `now` is a parameter.

Top:      E(a) = Σ w(kind)·count·2^(−age_h/h), optionally divided by (article_age_h + 2)^gravity;
          a story scores Σ E over its articles × log2(1 + distinct sources).
          With no engagement at all, coverage (distinct sources) then recency stands in.
Trending: x = views in the last 3 h, λ = expected views in 3 h (own rate over the 24 h before, or the
          median curve of older articles at the same age), z = (x − λ)/sqrt(λ + 2); x ≥ 20 and z ≥ 2.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from digest.models import EngagementRecord
from digest.stories import Story

HOUR = 3600.0


@dataclass(frozen=True)
class RankParams:
    half_life_hours: float = 12.0
    gravity: float = 0.0
    weights: Mapping[str, float] = field(default_factory=lambda: {"view": 1, "comment": 2, "click": 3, "share": 5})
    trending_window_hours: int = 3
    baseline_hours: int = 24
    trending_min_views: int = 20
    trending_min_z: float = 2.0
    min_reference_articles: int = 3


@dataclass(frozen=True, slots=True)
class StoryScore:
    story: Story
    score: float
    engagement: float
    coverage: int
    basis: str  # "engagement" or "coverage"
    trending_z: float | None = None
    recent_views: int = 0
    expected_views: float = 0.0
    source_trending_rank: int | None = None  # its place in a source's own "Trending" box, if one lists it

    def why(self) -> dict:
        return {"basis": self.basis, "score": round(self.score, 4), "engagement": round(self.engagement, 4),
                "coverage": self.coverage, "trending_z": None if self.trending_z is None else round(self.trending_z, 3),
                "recent_views": self.recent_views, "expected_views": round(self.expected_views, 3),
                "source_trending_rank": self.source_trending_rank}


@dataclass(frozen=True)
class Ranking:
    top: tuple[StoryScore, ...]  # every story, best first
    trending: tuple[StoryScore, ...]  # stories that qualify as trending, highest z first
    pins: tuple[tuple[StoryScore, str], ...] = ()  # an editor's pinned stories and their sections (digest.editorial)


@dataclass(frozen=True)
class Signals:
    """Engagement aggregated per article, as of `now` (from events in Python, or by the database)."""

    engagement: Mapping[int, float]  # Σ w(kind)·count·2^(−age_h/h), before gravity
    recent: Mapping[int, int]  # views in the last `trending_window_hours`
    baseline: Mapping[int, int]  # views in the `baseline_hours` before that
    curve: Mapping[int, float]  # age in hours → median views older articles had in their hours (age − w, age]
    named: Mapping[int, int] = field(default_factory=dict)  # article id → its rank in a source's "Trending" box


def title_key(title: str) -> str:
    """Lower-cased words only: how a trending box's headline is matched to an article's title."""
    return " ".join("".join(c if c.isalnum() else " " for c in title.lower()).split())


def named_trending(headlines: Sequence[tuple[int | None, str, int]], titles: Mapping[int, str]) -> dict[int, int]:
    """article id → best rank, for (linked article id or None, headline, rank) from sources' trending boxes,
    matched to the candidates' `titles` by article id, else by `title_key`."""
    by_key: dict[str, int] | None = None  # made on the first headline not linked to a candidate
    named: dict[int, int] = {}
    for article_id, headline, place in headlines:
        if article_id in titles:
            found = article_id
        else:
            by_key = {title_key(t): i for i, t in titles.items()} if by_key is None else by_key
            found = by_key.get(title_key(headline))
        if found is not None:
            named[found] = min(place, named.get(found, place))
    return named


def decay_factors(start: datetime, now: datetime, half_life_hours: float) -> list[tuple[datetime, float]]:
    """The decay factor of each hour bucket in [start, now): what the database multiplies counts by."""
    first = start.replace(minute=0, second=0, microsecond=0)
    hours = int((now - first).total_seconds() // HOUR) + 1
    buckets = (first + timedelta(hours=h) for h in range(hours))
    return [(b, 2 ** (-((now - b).total_seconds() / HOUR) / half_life_hours)) for b in buckets if b < now]


def decayed_engagement(events: Sequence[EngagementRecord], *, now: datetime, params: RankParams) -> dict[int, float]:
    scores: dict[int, float] = defaultdict(float)
    for ev in events:
        age_h = (now - ev.hour).total_seconds() / HOUR
        if age_h < 0:
            continue  # an event after `now` did not happen yet, for this edition
        weight = params.weights.get(ev.kind, 0.0)
        scores[ev.article_id] += weight * ev.count * 2 ** (-age_h / params.half_life_hours)
    return dict(scores)


def signals_from_events(events: Sequence[EngagementRecord], published: Mapping[int, datetime], *, now: datetime,
                        params: RankParams) -> Signals:
    """The same aggregates the database computes (`store.engagement.engagement_signals`), from events in memory."""
    w, b = params.trending_window_hours, params.baseline_hours
    recent: dict[int, int] = defaultdict(int)
    baseline: dict[int, int] = defaultdict(int)
    refs: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for ev in events:
        ago = (now - ev.hour).total_seconds() / HOUR
        if ev.kind != "view" or ago <= 0 or ev.article_id not in published:
            continue
        if ago <= w:
            recent[ev.article_id] += ev.count
        elif ago <= w + b:
            baseline[ev.article_id] += ev.count
        refs[ev.article_id].append((age_at_end(published[ev.article_id], ev.hour), ev.count))
    ages = {i: (now - p).total_seconds() / HOUR for i, p in published.items()}
    curve = median_curve({i: refs.get(i, []) for i, a in ages.items() if a >= 2 * w + b}, ages, params)
    return Signals(decayed_engagement(events, now=now, params=params), dict(recent), dict(baseline), curve)


def age_at_end(published: datetime, hour: datetime) -> float:
    return (hour + timedelta(hours=1) - published).total_seconds() / HOUR


def median_curve(ref_views: Mapping[int, Sequence[tuple[float, int]]], ages: Mapping[int, float],
                 params: RankParams) -> dict[int, float]:
    """For each young age A (hours): the median views reference articles had in their hours (A − w, A].

    `ref_views` maps a reference article to its (age at the end of the bucket, views) pairs.
    """
    w, b = params.trending_window_hours, params.baseline_hours
    curve: dict[int, float] = {}
    for age in range(w, w + b + 1):
        refs = [i for i in ref_views if ages[i] >= age + w]
        if len(refs) < params.min_reference_articles:
            continue
        samples = [sum(c for at, c in ref_views[i] if age - w < at <= age) for i in refs]
        curve[age] = float(statistics.median(samples))
    return curve


def rank(stories: Sequence[Story], events: Sequence[EngagementRecord] | Signals, *, now: datetime,
         params: RankParams) -> Ranking:
    """Top and trending over `stories`, from raw events (small data, tests) or pre-aggregated signals."""
    if not isinstance(events, Signals):
        published = {a.id: a.published_at for story in stories for a in story.articles}
        events = signals_from_events(events, published, now=now, params=params)
    signals = events
    trend = trending_z_scores(stories, signals, now=now, params=params)
    use_engagement = any(v > 0 for v in signals.engagement.values())
    scored = [_score_story(s, signals.engagement, trend, now, params, use_engagement, signals.named)
              for s in stories]
    top = sorted(scored, key=lambda s: (-s.score, -s.story.lead.published_at.timestamp(), s.story.key))
    accelerating = {id(s) for s in scored if s.trending_z is not None and s.recent_views >= params.trending_min_views
                    and s.trending_z >= params.trending_min_z}
    # acceleration first (highest z); then what only a source's own trending box names, in its order
    trending = [s for s in scored if id(s) in accelerating or s.source_trending_rank is not None]
    trending.sort(key=lambda s: (id(s) not in accelerating, -(s.trending_z or 0.0) if id(s) in accelerating else 0.0,
                                 s.source_trending_rank or 0, -s.engagement, s.story.key))
    return Ranking(top=tuple(top), trending=tuple(trending))


def _score_story(story: Story, engagement: Mapping[int, float], trend: Mapping[int, tuple[float, int, float]],
                 now: datetime, params: RankParams, use_engagement: bool, named: Mapping[int, int]) -> StoryScore:
    story = story.led_by(engagement)  # the most engaged article represents the story
    coverage = len(story.sources) or 1
    total = 0.0
    for article in story.articles:
        e = engagement.get(article.id, 0.0)
        if params.gravity:
            age_h = max(0.0, (now - article.published_at).total_seconds() / HOUR)
            e /= (age_h + 2) ** params.gravity
        total += e
    score = total * math.log2(1 + coverage) if use_engagement else float(coverage)
    best = max((trend[a.id] for a in story.articles if a.id in trend), default=None)
    z, x, lam = best if best else (None, 0, 0.0)
    place = min((named[a.id] for a in story.articles if a.id in named), default=None)
    return StoryScore(story=story, score=score, engagement=total, coverage=coverage,
                      basis="engagement" if use_engagement else "coverage", trending_z=z, recent_views=x,
                      expected_views=lam, source_trending_rank=place)


def trending_z_scores(stories: Sequence[Story], signals: Sequence[EngagementRecord] | Signals, *, now: datetime,
                      params: RankParams) -> dict[int, tuple[float, int, float]]:
    """article id → (z, recent views x, expected views λ) for every article with views in the window."""
    articles = {a.id: a for s in stories for a in s.articles}
    if not isinstance(signals, Signals):
        signals = signals_from_events(signals, {i: a.published_at for i, a in articles.items()}, now=now,
                                      params=params)
    result = {}
    for article_id, x in signals.recent.items():
        if x == 0 or article_id not in articles:
            continue
        age = (now - articles[article_id].published_at).total_seconds() / HOUR
        result[article_id] = trend(age, x, signals.baseline.get(article_id, 0), signals.curve, params)
    return result


def trend(age: float, x: int, baseline: int, curve: Mapping[int, float], params: RankParams
          ) -> tuple[float, int, float]:
    """(z, x, λ) of an article `age` hours old with `x` recent views and `baseline` views before them."""
    lam = _expected(age, baseline, curve, params.trending_window_hours, params.baseline_hours)
    return (x - lam) / math.sqrt(lam + 2), x, lam


def _expected(age: float, baseline: int, curve: Mapping[int, float], w: int, b: int) -> float:
    if age >= w + b:
        return baseline / b * w
    bucket = max(w, math.ceil(age))
    if bucket in curve:
        return curve[bucket]
    return baseline / max(1.0, age - w) * w if age > w else 0.0
