"""Stories: groups of articles about the same event, so a digest shows each event once. Pure and deterministic.

Clustering (`group_stories`, here; each step in its own module):
  text     title (counted twice) + summary + lead paragraph; the summary is skipped when the lead repeats it,
           and an article's own outlet name ("tass", "cnn") is dropped; stopwords out, plurals folded
  vector   TF-IDF: (1 + log tf) · (1 + log((1 + N) / (1 + df))) over the candidates, L2-normalised
  pairs    cosine; two articles published more than `window_hours` apart are never the same story (0)
  linkage  average linkage: two groups merge while the mean similarity of all their cross pairs is ≥ threshold

Exact and fast: a merge needs at least one cross pair ≥ threshold, so every story lies inside a connected
component of the graph of such pairs, and each component is clustered on its full similarity matrix. The pairs
come from a split by document frequency (`similar_pairs`) instead of comparing all N² of them.

Keys: a story takes the key most of its articles had before (`previous`), so it keeps its key as it grows and
after its first articles leave the window; a new story is `s<id of its earliest article>`.

Representative: the most engaged article once ranking knows engagement (`Story.led_by`), else the most complete
(longest summary + lead paragraph), then the earliest. "Also covered by": up to three other outlets.
"""

from __future__ import annotations

import gc
import importlib
import itertools
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from digest.models import ArticleRecord
from digest.stories.keys import assign_keys
from digest.stories.model import Model, load_model
from digest.stories.story import (Story, StoryParams, Vector, by_publication, follow_ups, linkable,
                                  representative_first, story_similarity)

# Clustering's names come from modules that import numpy and scipy: they load when first used (PEP 562), so the
# sender, the console and the workers, which only read stories (Story, linkable, story_similarity), start without.
LAZY = {"cluster": "linkage", "VERIFY_COST": "pairs", "similar_pairs": "pairs", "ALNUM": "text", "STOPWORDS": "text",
        "article_terms": "text", "article_text": "text", "tf_idf": "text", "words": "text"}

__all__ = ["ALNUM", "STOPWORDS", "VERIFY_COST", "Model", "Story", "StoryParams", "Vector", "article_terms", "article_text",
           "assign_keys", "cluster", "follow_ups", "group_stories", "load_model", "linkable", "representative_first", "similar_pairs",
           "story_similarity", "tf_idf", "words"]


def __getattr__(name: str):
    if name not in LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = globals()[name] = getattr(importlib.import_module(f"{__name__}.{LAZY[name]}"), name)
    return value


def group_stories(articles: Sequence[ArticleRecord], previous: Mapping[int, str] | None = None, *,
                  params: StoryParams | None = None) -> list[Story]:
    """Same-event stories among `articles`, keyed stably; `previous` maps article id → its earlier story key."""
    with _collection_paused():
        return _group_stories(articles, previous, params or StoryParams())


@contextmanager
def _collection_paused() -> Iterator[None]:
    """The cyclic garbage collector off while clustering: it allocates many small objects and no cycles, and each
    collection walks every live object, so at 20,000 articles it took about a sixth of the time. Same result."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _group_stories(articles: Sequence[ArticleRecord], previous: Mapping[int, str] | None,
                   params: StoryParams) -> list[Story]:
    ordered = sorted({a.id: a for a in articles}.values(), key=by_publication)
    if not ordered:
        return []
    import numpy as np

    from digest.stories.linkage import cluster
    from digest.stories.text import centroid_rows, centroids, tf_idf

    matrix, terms = tf_idf(ordered)
    hours = np.array([a.published_at.timestamp() / 3600.0 for a in ordered])
    groups, grouped = cluster(ordered, matrix, hours, params)
    keys = assign_keys([[ordered[i] for i in g] for g in groups], previous or {})
    return [Story(key, representative_first(ordered[i] for i in g) if len(g) > 1 else (ordered[g[0]],), c,
                  tuple((ordered[i].id, ordered[j].id, grouped[i, j]) for i, j in itertools.combinations(g, 2)))
            for key, g, c in zip(keys, groups, centroids(centroid_rows(matrix, groups), terms))]
