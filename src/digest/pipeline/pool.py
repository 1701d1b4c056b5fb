"""An edition's pool: the candidates that can reach a digest, ranked in SQL and only those loaded.

The database applies the rule in one query (`store.selection.kept_candidates`: each candidate's decayed E, recent
and baseline views from the engagement index, its few columns and stored story key, no text); the Python path
(`reachable`) reads the same from `store.engagement.article_engagement` and `store.articles.candidate_rows`.
A *unit* is a stored story (the candidates sharing a stored key). Its score is the story score of its articles:
Σ E × log2(1 + outlets), or its outlets when nothing in the edition has engagement; its trend is the (z, x) of
its best-z article. Every new article (no stored key) is kept: clustering may join it to other new articles,
and a story of five outlets' new articles outranks each of them alone (with no engagement at all, coverage is
the whole score), so its own score cannot leave it out.

Kept, in each cell (a lead's topic × its country: a reader's topic and country filters are unions of cells, and
"no filter" is the union of all): the `depth` best units by score, then latest publication, then key, and the
`depth` highest-z units that can trend (x ≥ the minimum views, z ≥ the minimum z); every unit a source's
trending box names, and every editor's pin. A unit counts in the cell of each of its articles (whichever becomes
its lead). Only the kept units' articles are read in full and clustered (`pipeline.plan.edition_stories`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from digest import store
from digest.models import ArticleRecord
from digest.ranking import HOUR, RankParams, Signals, age_at_end, median_curve, title_key, trend


@dataclass(frozen=True)
class Pool:
    articles: list[ArticleRecord]  # the kept candidates, by id
    signals: Signals  # their engagement (curve: the edition's)


@dataclass
class _Unit:
    ids: list[int] = field(default_factory=list)
    total: float = 0.0
    sources: set = field(default_factory=set)
    cells: set = field(default_factory=set)
    latest: datetime | None = None
    trend: tuple[float, int] | None = None


def edition_pool(session, *, start: datetime, now: datetime, params: RankParams, curve: Mapping[int, float],
                 depth: int, covers=None, excluded: Iterable[int] = (), keep: Iterable[int] = (),
                 boxes: Sequence[tuple[int | None, str]] = ()) -> Pool:
    """The candidates published in [start, now) that can reach a digest (`depth` 0: all of them).

    `covers(topics, country)`: the newsletter's filter; `excluded`: the editors' excluded articles; `keep`: ids
    kept whatever their rank (pins); `boxes`: (linked article id or None, headline) of sources' trending boxes.
    Ranked by the database (`store.selection.kept_candidates`) unless the newsletter filters its candidates or
    the database lacks the functions: then `reachable` ranks the candidates' columns in Python."""
    keep = set(keep) | _named(session, start, now, boxes)
    if depth and covers is None and store.selection.available(session):
        found = store.selection.kept_candidates(
            session, start=start, now=now, half_life_hours=params.half_life_hours, weights=params.weights,
            gravity=params.gravity, trending_window_hours=params.trending_window_hours,
            baseline_hours=params.baseline_hours, trending_min_views=params.trending_min_views,
            trending_min_z=params.trending_min_z, curve=curve, depth=depth, excluded=excluded, keep=keep)
        engagement = {a: (e, r, x) for a, e, r, x in found}
        ids = list(engagement)
    else:
        ids, engagement = _in_python(session, start, now, params, curve, depth, covers, set(excluded), keep)
    loaded = store.articles.articles_by_id(session, ids=ids)
    articles = [loaded[i] for i in sorted(loaded)]
    mine = {i: engagement[i] for i in loaded if i in engagement}
    signals = Signals(engagement={i: e for i, (e, _, _) in mine.items() if e},
                      recent={i: r for i, (_, r, _) in mine.items() if r},
                      baseline={i: x for i, (_, _, x) in mine.items() if x}, curve=dict(curve))
    return Pool(articles, signals)


def _in_python(session, start, now, params, curve, depth, covers, excluded, keep):
    rows = store.articles.candidate_rows(session, start=start, end=now)
    rows = [r for r in rows if r[0] not in excluded and (covers is None or covers(r[3], r[2]))]
    w, b = params.trending_window_hours, params.baseline_hours
    recent_since, baseline_since = now - timedelta(hours=w), now - timedelta(hours=w + b)
    found = store.engagement.article_engagement(
        session, since=min(start, baseline_since), now=now, half_life_hours=params.half_life_hours,
        weights=dict(params.weights), recent_since=recent_since, baseline_since=baseline_since)
    engagement = {a: (e, r, x) for a, e, r, x in found}
    ids = [r[0] for r in rows] if not depth else reachable(rows, engagement, curve, now=now, params=params,
                                                           depth=depth, keep=keep)
    return ids, engagement


def reachable(rows: Sequence[tuple], engagement: Mapping[int, tuple[float, int, int]], curve: Mapping[int, float],
              *, now: datetime, params: RankParams, depth: int, keep: set[int] = frozenset()) -> list[int]:
    """The ids of the articles of every unit kept (see the module's docstring), from `candidate_rows` rows and
    `engagement` (article id → (E, recent views, baseline views))."""
    units = _units([r for r in rows if r[5]], engagement, curve, now, params)  # stored stories only
    use_engagement = any(engagement.get(r[0], (0.0,))[0] > 0 for r in rows)
    score = {k: (u.total * math.log2(1 + (len(u.sources) or 1)) if use_engagement else float(len(u.sources) or 1))
             for k, u in units.items()}
    kept = {k for k, u in units.items() if keep.intersection(u.ids)}
    by_score = sorted(units, key=lambda k: (-score[k], -units[k].latest.timestamp(), k))
    kept |= _best_per_cell(by_score, units, depth)
    rising = [k for k, u in units.items() if u.trend and u.trend[1] >= params.trending_min_views
              and u.trend[0] >= params.trending_min_z]
    rising.sort(key=lambda k: (-units[k].trend[0], k))
    kept |= _best_per_cell(rising, units, depth)
    return sorted([i for k in kept for i in units[k].ids] + [r[0] for r in rows if not r[5]])


def _units(rows, engagement, curve, now: datetime, params: RankParams) -> dict[str, _Unit]:
    units: dict[str, _Unit] = defaultdict(_Unit)
    for article_id, source, country, topics, published, key, *_ in rows:
        unit = units[key or f"a{article_id}"]
        unit.ids.append(article_id)
        if source:
            unit.sources.add(source)
        country = (country or "").lower()
        unit.cells.update((t.lower(), country) for t in topics or ("",))
        unit.latest = published if unit.latest is None or published > unit.latest else unit.latest
        e, recent, baseline = engagement.get(article_id, (0.0, 0, 0))
        age = (now - published).total_seconds() / HOUR
        if params.gravity and e:
            e /= (max(0.0, age) + 2) ** params.gravity
        unit.total += e
        if recent:
            z, x, _ = trend(age, recent, baseline, curve, params)
            unit.trend = max(unit.trend or (z, x), (z, x))
    return units


def _best_per_cell(ordered: Sequence[str], units: Mapping[str, _Unit], depth: int) -> set[str]:
    """The first `depth` units of every cell, in `ordered`'s order."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    kept = set()
    for key in ordered:
        for cell in units[key].cells:
            counts[cell] += 1
            if counts[cell] <= depth:
                kept.add(key)
    return kept


def _named(session, start: datetime, now: datetime, boxes: Sequence[tuple[int | None, str]]) -> set[int]:
    """The candidates sources' trending boxes may name: their linked ids, and the candidates whose `title_key`
    is a headline's (`ranking.named_trending` matches by title when the linked id is not a candidate)."""
    if not boxes:
        return set()
    wanted = {title_key(t) for _, t in boxes}
    titles = store.articles.candidate_titles(session, start=start, end=now)
    return {i for i, _ in boxes if i is not None} | {i for i, t in titles if title_key(t) in wanted}


def reference_curve(session, *, start: datetime, now: datetime, params: RankParams) -> dict[int, float]:
    """The median views curve of the window's older articles: trending's expected views for the young."""
    w, b = timedelta(hours=params.trending_window_hours), timedelta(hours=params.baseline_hours)
    refs = store.engagement.reference_views(session, published_before=now - 2 * w - b, published_after=start, now=now)
    ages = {i: (now - published).total_seconds() / HOUR for i, (published, _) in refs.items()}
    ref_views = {i: [(age_at_end(published, hour), c) for hour, c in views] for i, (published, views) in refs.items()}
    return median_curve(ref_views, ages, params)
