"""Stories: groups of articles about the same event, so a digest shows each event once.

This is the seam for same-event clustering. Today every article is its own story unless two articles
share a normalised title (a reprint); TF-IDF clustering replaces `group_stories` without touching callers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from digest.models import ArticleRecord


@dataclass(frozen=True, slots=True)
class Story:
    key: str
    articles: tuple[ArticleRecord, ...]  # representative first

    @property
    def lead(self) -> ArticleRecord:
        return self.articles[0]

    @property
    def sources(self) -> frozenset[str]:
        return frozenset(a.source for a in self.articles if a.source)

    @property
    def article_ids(self) -> frozenset[int]:
        return frozenset(a.id for a in self.articles)


def title_key(title: str) -> str:
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    return " ".join(re.findall(r"[a-z0-9]+", folded))


def group_stories(articles: Sequence[ArticleRecord]) -> list[Story]:
    """Group articles into stories; the key of a story is stable: its earliest article's id."""
    groups: dict[str, list[ArticleRecord]] = {}
    for article in sorted(articles, key=lambda a: (a.published_at, a.id)):
        groups.setdefault(title_key(article.title) or f"#{article.id}", []).append(article)
    return [Story(key=f"s{members[0].id}", articles=tuple(_representative_first(members)))
            for members in groups.values()]


def _representative_first(members: list[ArticleRecord]) -> list[ArticleRecord]:
    """The most complete article leads (longest summary, then earliest)."""
    lead = max(members, key=lambda a: (len(a.summary), -a.published_at.timestamp(), -a.id))
    return [lead] + [a for a in members if a is not lead]
