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
from datetime import datetime

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

    def why(self) -> dict:
        return {"basis": self.basis, "score": round(self.score, 4), "engagement": round(self.engagement, 4),
                "coverage": self.coverage, "trending_z": None if self.trending_z is None else round(self.trending_z, 3),
                "recent_views": self.recent_views, "expected_views": round(self.expected_views, 3)}


@dataclass(frozen=True)
class Ranking:
    top: tuple[StoryScore, ...]  # every story, best first
    trending: tuple[StoryScore, ...]  # stories that qualify as trending, highest z first


def decayed_engagement(events: Sequence[EngagementRecord], *, now: datetime, params: RankParams) -> dict[int, float]:
    scores: dict[int, float] = defaultdict(float)
    for ev in events:
        age_h = (now - ev.hour).total_seconds() / HOUR
        if age_h < 0:
            continue  # an event after `now` did not happen yet, for this edition
        weight = params.weights.get(ev.kind, 0.0)
        scores[ev.article_id] += weight * ev.count * 2 ** (-age_h / params.half_life_hours)
    return dict(scores)


def rank(stories: Sequence[Story], events: Sequence[EngagementRecord], *, now: datetime,
         params: RankParams) -> Ranking:
    engagement = decayed_engagement(events, now=now, params=params)
    trend = trending_z_scores(stories, events, now=now, params=params)
    use_engagement = any(v > 0 for v in engagement.values())
    scored = [_score_story(s, engagement, trend, now, params, use_engagement) for s in stories]
    top = sorted(scored, key=lambda s: (-s.score, -s.story.lead.published_at.timestamp(), s.story.key))
    trending = [s for s in scored if s.trending_z is not None and s.recent_views >= params.trending_min_views
                and s.trending_z >= params.trending_min_z]
    trending.sort(key=lambda s: (-s.trending_z, -s.engagement, s.story.key))
    return Ranking(top=tuple(top), trending=tuple(trending))


def _score_story(story: Story, engagement: Mapping[int, float], trend: Mapping[int, tuple[float, int, float]],
                 now: datetime, params: RankParams, use_engagement: bool) -> StoryScore:
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
    return StoryScore(story=story, score=score, engagement=total, coverage=coverage,
                      basis="engagement" if use_engagement else "coverage", trending_z=z, recent_views=x,
                      expected_views=lam)


def trending_z_scores(stories: Sequence[Story], events: Sequence[EngagementRecord], *, now: datetime,
                      params: RankParams) -> dict[int, tuple[float, int, float]]:
    """article id → (z, recent views x, expected views λ) for every article with views in the window."""
    articles = {a.id: a for s in stories for a in s.articles}
    views: dict[int, list[tuple[float, int]]] = defaultdict(list)  # id → [(hours before now, count)]
    for ev in events:
        if ev.kind == "view" and ev.article_id in articles:
            ago = (now - ev.hour).total_seconds() / HOUR
            if ago > 0:
                views[ev.article_id].append((ago, ev.count))
    w, b = params.trending_window_hours, params.baseline_hours
    ages = {i: (now - a.published_at).total_seconds() / HOUR for i, a in articles.items()}
    curve = _median_curve(ages, views, w, b, params.min_reference_articles)
    result = {}
    for article_id, hits in views.items():
        x = sum(c for ago, c in hits if ago <= w)
        if x == 0:
            continue
        lam = _expected(article_id, ages[article_id], hits, curve, w, b)
        result[article_id] = ((x - lam) / math.sqrt(lam + 2), x, lam)
    return result


def _expected(article_id: int, age: float, hits, curve: Mapping[int, float], w: int, b: int) -> float:
    if age >= w + b:
        return sum(c for ago, c in hits if w < ago <= w + b) / b * w
    bucket = max(w, math.ceil(age))
    if bucket in curve:
        return curve[bucket]
    before = sum(c for ago, c in hits if ago > w)
    return before / max(1.0, age - w) * w if age > w else 0.0


def _median_curve(ages: Mapping[int, float], views: Mapping[int, list[tuple[float, int]]], w: int, b: int,
                  min_refs: int) -> dict[int, float]:
    """For each young age A (hours): the median views older articles had in their own hours [A−w, A)."""
    curve: dict[int, float] = {}
    for age in range(w, w + b + 1):
        refs = [i for i, a in ages.items() if a >= age + w]
        if len(refs) < min_refs:
            continue
        samples = []
        for i in refs:
            since_pub = ages[i]
            samples.append(sum(c for ago, c in views.get(i, ()) if age - w < since_pub - ago + 1 <= age))
        curve[age] = float(statistics.median(samples))
    return curve
