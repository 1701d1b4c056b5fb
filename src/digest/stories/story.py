"""The story model: `Story`, its parameters, its representative and its "also covered by" outlets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from digest.models import ArticleRecord
from digest.stories.model import load_model

Vector = Mapping[str, float]


@dataclass(frozen=True)
class StoryParams:
    threshold: float = field(default_factory=lambda: load_model().threshold)  # probability of one event
    window_hours: float = 48.0
    linkage: str = "average"  # mean cross probability ≥ threshold, every cross pair ≥ floor; or "complete"
    floor: float = field(default_factory=lambda: load_model().floor)


@dataclass(frozen=True, slots=True)
class Story:
    key: str
    articles: tuple[ArticleRecord, ...]  # representative first, then by publication time
    centroid: Vector = field(default_factory=dict, compare=False, repr=False)  # unit TF-IDF centroid
    why: tuple = field(default=(), compare=False, repr=False)  # (id, id, feature row) of each pair of articles

    @property
    def lead(self) -> ArticleRecord:
        return self.articles[0]

    @property
    def sources(self) -> frozenset[str]:
        return frozenset(a.source for a in self.articles if a.source)

    @property
    def article_ids(self) -> frozenset[int]:
        return frozenset(a.id for a in self.articles)

    @property
    def also(self) -> tuple[ArticleRecord, ...]:
        """Up to three other articles, one per outlet, none from the representative's outlet; http(s) links only."""
        seen, picked = {_outlet(self.lead)}, []
        for article in self.articles[1:]:
            if _outlet(article) not in seen and len(picked) < 3 and linkable(article):
                seen.add(_outlet(article))
                picked.append(article)
        return tuple(picked)

    def reasons(self) -> list[dict]:
        """Why each pair of its articles is one event: the model's features, contributions and probability."""
        model = load_model()
        return [{"articles": [a, b], **model.explain(row)} for a, b, row in self.why]

    def led_by(self, engagement: Mapping[int, float]) -> Story:
        """The same story with its most engaged article first (unchanged when none has engagement)."""
        if not any(engagement.get(a.id, 0.0) > 0 for a in self.articles):
            return self
        return replace(self, articles=representative_first(self.articles, engagement))


def representative_first(articles: Iterable[ArticleRecord],
                         engagement: Mapping[int, float] | None = None) -> tuple[ArticleRecord, ...]:
    """Most engaged, else most complete (longest summary + lead), else earliest; the rest by publication time."""
    engagement = engagement or {}
    ordered = sorted(articles, key=by_publication)
    lead = min(ordered, key=lambda a: (-engagement.get(a.id, 0.0), -(len(a.summary) + len(a.lead)), by_publication(a)))
    return (lead, *(a for a in ordered if a is not lead))


FOLLOW_SIMILARITY = 0.3  # centroid cosine at which a later, separate story develops an earlier one
FOLLOW_GAP_HOURS = 12.0  # how much later its first article must come


def follow_ups(stories: Sequence[Story]) -> dict[str, str]:
    """Story key → the key of the earlier story it follows up: the most similar (centroid cosine at least
    FOLLOW_SIMILARITY) among those whose first article came FOLLOW_GAP_HOURS or more before its own.
    A follow-up stays a story of its own (a new development is news the reader has not had); it says what it
    follows. Meant for the few stories of one edition (it compares every pair)."""
    starts = {s.key: min(a.published_at for a in s.articles) for s in stories}
    found = {}
    for story in stories:
        earlier = [(story_similarity(story, other), other.key) for other in stories
                   if (starts[story.key] - starts[other.key]).total_seconds() >= FOLLOW_GAP_HOURS * 3600]
        similarity, key = max(earlier, default=(0.0, ""))
        if similarity >= FOLLOW_SIMILARITY:
            found[story.key] = key
    return found


def story_similarity(a: Story, b: Story) -> float:
    """Cosine of the two stories' TF-IDF centroids (0 when either has none)."""
    small, large = (a.centroid, b.centroid) if len(a.centroid) <= len(b.centroid) else (b.centroid, a.centroid)
    return sum(w * large[t] for t, w in small.items() if t in large)


def by_publication(article: ArticleRecord) -> tuple:
    """Sort key: publication time, then id."""
    return article.published_at, article.id


def linkable(article: ArticleRecord) -> bool:
    """An http(s) link a reader can follow (a store filled before ingestion refused `file://` may hold others)."""
    return article.url.lower().startswith(("http://", "https://"))


def _outlet(article: ArticleRecord) -> str:
    return (article.source or article.url).lower()
