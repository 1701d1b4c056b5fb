"""Per-subscriber choice from an edition's ranking: preferences, already-sent, caps. Pure."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from digest.models import SubscriberRecord
from digest.ranking import Ranking, StoryScore


@dataclass(frozen=True, slots=True)
class Pick:
    section: str  # "top" | "trending"
    entry: StoryScore
    reason: str  # why it passed this subscriber's filters


@dataclass(frozen=True, slots=True)
class Selection:
    picks: tuple[Pick, ...]
    skip_reason: str | None = None

    @property
    def top(self) -> tuple[Pick, ...]:
        return tuple(p for p in self.picks if p.section == "top")

    @property
    def trending(self) -> tuple[Pick, ...]:
        return tuple(p for p in self.picks if p.section == "trending")


def matches(entry: StoryScore, sub: SubscriberRecord) -> str | None:
    """Why the story's lead passes the subscriber's topic and country filters, or None when it does not."""
    lead = entry.story.lead
    reasons = []
    if sub.topics:
        shared = sorted(set(t.lower() for t in lead.topics) & set(t.lower() for t in sub.topics))
        if not shared:
            return None
        reasons.append("topic " + ", ".join(shared))
    if sub.countries:
        wanted = {c.lower() for c in sub.countries}
        if not lead.country or lead.country.lower() not in wanted:
            return None
        reasons.append(f"country {lead.country}")
    return "; ".join(reasons) or "no filters"


def select_for(sub: SubscriberRecord, ranking: Ranking, *, sent_articles: set[int], sent_stories: set[str],
               trending_items: int) -> Selection:
    """Up to `max_items` new stories for `sub`: top first, then trending stories that are not in top."""
    if not ranking.top:
        return Selection((), "no articles published in this edition's window")
    top = _eligible(ranking.top, sub, sent_articles, sent_stories)
    trending = _eligible(ranking.trending, sub, sent_articles, sent_stories)
    if not top:
        return Selection((), _why_empty(ranking, sub))
    limit = max(1, sub.max_items)
    k = min(trending_items, limit - 1, len(trending)) if limit > 1 else 0
    chosen_top = top[: limit - k]
    top_keys = {e.story.key for e, _ in chosen_top}
    chosen_trending = [(e, r) for e, r in trending if e.story.key not in top_keys][: min(k, limit - len(chosen_top))]
    taken = top_keys | {e.story.key for e, _ in chosen_trending}
    room = limit - len(chosen_top) - len(chosen_trending)
    chosen_top += [(e, r) for e, r in top if e.story.key not in taken][:room]
    picks = [Pick("top", e, r) for e, r in chosen_top] + [Pick("trending", e, r) for e, r in chosen_trending]
    return Selection(tuple(picks))


def _eligible(entries: Iterable[StoryScore], sub: SubscriberRecord, sent_articles: set[int],
              sent_stories: set[str]) -> list[tuple[StoryScore, str]]:
    out = []
    for entry in entries:
        if entry.story.key in sent_stories or entry.story.article_ids & sent_articles:
            continue
        reason = matches(entry, sub)
        if reason is not None:
            out.append((entry, reason))
    return out


def _why_empty(ranking: Ranking, sub: SubscriberRecord) -> str:
    if not any(matches(e, sub) for e in ranking.top):
        return "nothing in this edition matches the subscriber's topics and countries"
    return "nothing new: every matching story was already sent to this subscriber"


def variant_key(fmt: str, picks: Sequence[Pick]) -> str:
    """Subscribers who get the same stories, in the same sections and format, share one rendered variant."""
    content = fmt + "|" + ";".join(f"{p.section}:{p.entry.story.key}:{p.entry.story.lead.id}" for p in picks)
    return hashlib.sha256(content.encode()).hexdigest()[:16]
