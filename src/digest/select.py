"""Per-subscriber choice from an edition's ranking: preferences, already-sent, diversity, caps. Pure.

Diversity: maximal marginal relevance over stories, greedily, one story at a time:
    mmr(s) = λ · relevance(s) − (1 − λ) · max over already chosen c of similarity(s, c)
relevance is the story's score (trending: its z) over the best eligible one, similarity the cosine of the
stories' TF-IDF centroids. A per-topic cap (the representative's first topic) keeps one subject from filling a
section; a topic the subscriber follows may fill its share, max(cap, ⌈max_items / topics followed⌉). The cap
counts each section on its own and never empties one: Trending fills its slots past the cap when the capped
choice runs short, and when every trending story the reader matches is in Top, the last one Top chose moves
to Trending (Top keeps at least one story), so a reader who matches a trending story always has a Trending
section (when `max_items` > 1 and `trending_items` > 0). An editor's pins (`digest.editorial`) come first in their
sections for every reader they are new to, whatever the reader's filters, and count toward `max_items`.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from digest.models import SubscriberRecord
from digest.ranking import Ranking, StoryScore
from digest.stories import Story, linkable, story_similarity


PINNED = "pinned by the editor"  # a pick's reason when the editor pinned it (no reader filter applies)


@dataclass(frozen=True)
class Diversity:
    mmr_lambda: float = 1.0  # 1: rank order only
    topic_cap: int = 0  # stories per topic in one digest; 0: no cap


@dataclass(frozen=True, slots=True)
class Pick:
    section: str  # "top" | "trending"
    entry: StoryScore
    reason: str  # why it passed this subscriber's filters
    mmr_rank: int = 0  # the order in which diversity chose it (1 = first)
    redundancy: float = 0.0  # its highest similarity to the stories chosen before it

    def why(self) -> dict:
        """Everything that put this story in this digest, as stored with the delivered item."""
        return {**self.entry.why(), "filters": self.reason, "mmr_rank": self.mmr_rank,
                "redundancy": round(self.redundancy, 4), "topic": _topic(self.entry.story) or None,
                "also": [a.id for a in self.entry.story.also]}


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
               trending_items: int, diversity: Diversity = Diversity()) -> Selection:
    """Up to `max_items` new stories for `sub`: the editor's pins first in their sections, then top, then
    trending stories that are not in top."""
    if not ranking.top and not ranking.pins:
        return Selection((), "no articles published in this edition's window")
    pins = [(entry, section) for entry, section in ranking.pins if _new(entry, sent_articles, sent_stories)]
    top = _eligible(ranking.top, sub, sent_articles, sent_stories)
    trending = _eligible(ranking.trending, sub, sent_articles, sent_stories)
    if not top and not pins:
        return Selection((), _why_empty(ranking, sub))
    limit = max(1, sub.max_items)
    chooser = _Chooser(diversity, _topic_caps(sub, limit, diversity.topic_cap))
    chooser.pin(pins[:limit])
    pinned_trending = len(chooser.section("trending"))
    k = max(pinned_trending, min(trending_items, limit - 1, len(trending) + pinned_trending) if limit > 1 else 0)
    chooser.take("top", top, limit - k - len(chooser.section("top")), lambda e: e.score)
    chooser.take("trending", trending, k, lambda e: e.trending_z or 0.0)
    chooser.take("trending", trending, k - len(chooser.section("trending")), lambda e: e.trending_z or 0.0,
                 capped=False)  # the cap is for variety inside a section: it never leaves Trending short
    chooser.take("top", top, limit - len(chooser.picks), lambda e: e.score)
    if k and not chooser.section("trending"):
        chooser.hand_over(trending)
    picks = [p for p in chooser.picks if p.section == "top"] + [p for p in chooser.picks if p.section == "trending"]
    return Selection(tuple(picks))


@dataclass
class _Chooser:
    """Greedy maximal marginal relevance over stories, with the per-topic cap."""

    diversity: Diversity
    caps: Callable[[str], int]
    picks: list[Pick] = field(default_factory=list)
    chosen: list[Story] = field(default_factory=list)
    topics: Counter = field(default_factory=Counter)  # (section, topic) → stories chosen
    redundancy: dict[str, tuple[float, int]] = field(default_factory=dict)  # key → (max similarity, chosen seen)

    def section(self, name: str) -> list[Pick]:
        return [p for p in self.picks if p.section == name]

    def pin(self, pins: list[tuple[StoryScore, str]]) -> None:
        """The editor's pinned stories, in their order, before anything is chosen."""
        for entry, section in pins:
            self.picks.append(Pick(section, entry, PINNED, len(self.picks) + 1))
            self.chosen.append(entry.story)
            self.topics[section, _topic(entry.story)] += 1

    def take(self, section: str, candidates: list[tuple[StoryScore, str]], n: int,
             relevance: Callable[[StoryScore], float], *, capped: bool = True) -> None:
        best_relevance = max((relevance(e) for e, _ in candidates), default=0.0)
        for _ in range(max(0, n)):
            found = self._best(section if capped else None, candidates, relevance, best_relevance)
            if found is None:
                return
            (entry, reason), red = found
            self.picks.append(Pick(section, entry, reason, len(self.picks) + 1, red))
            self.chosen.append(entry.story)
            self.topics[section, _topic(entry.story)] += 1

    def hand_over(self, trending: list[tuple[StoryScore, str]]) -> None:
        """The last trending story Top chose moves to Trending, if Top keeps another."""
        reasons = {entry.story.key: reason for entry, reason in trending}
        movable = [p for p in self.section("top") if p.entry.story.key in reasons]
        if not movable or len(self.section("top")) <= 1:
            return
        pick = movable[-1]
        self.picks[self.picks.index(pick)] = Pick("trending", pick.entry, reasons[pick.entry.story.key],
                                                  pick.mmr_rank, pick.redundancy)
        topic = _topic(pick.entry.story)
        self.topics["top", topic] -= 1
        self.topics["trending", topic] += 1

    def _best(self, section, candidates, relevance, best_relevance):
        lam, best, best_mmr = self.diversity.mmr_lambda, None, -math.inf
        taken = {s.key for s in self.chosen}
        for candidate in candidates:  # best relevance first: stop once λ·relevance cannot win
            story = candidate[0].story
            rel = relevance(candidate[0]) / best_relevance if best_relevance > 0 else 1.0
            if lam * rel <= best_mmr:
                break
            if story.key in taken or (section is not None and not self._room(section, story)):
                continue
            red = self._redundancy(story)
            mmr = lam * rel - (1 - lam) * red
            if mmr > best_mmr:
                best, best_mmr = (candidate, red), mmr
        return best

    def _room(self, section: str, story: Story) -> bool:
        topic = _topic(story)
        return not topic or self.caps(topic) <= 0 or self.topics[section, topic] < self.caps(topic)

    def _redundancy(self, story: Story) -> float:
        value, seen = self.redundancy.get(story.key, (0.0, 0))
        if self.diversity.mmr_lambda < 1:
            for other in self.chosen[seen:]:
                value = max(value, story_similarity(story, other))
        self.redundancy[story.key] = (value, len(self.chosen))
        return value


def _topic(story: Story) -> str:
    """The topic a story counts toward for the cap: its representative's first (main) topic."""
    return story.lead.topics[0].lower() if story.lead.topics else ""


def _topic_caps(sub: SubscriberRecord, limit: int, cap: int) -> Callable[[str], int]:
    followed = {t.lower() for t in sub.topics}
    share = math.ceil(limit / len(followed)) if followed else 0
    return lambda topic: max(cap, share) if cap and topic in followed else cap


def _new(entry: StoryScore, sent_articles: set[int], sent_stories: set[str]) -> bool:
    """Not sent to this reader before (the story nor any of its articles), and a link they can follow."""
    return (entry.story.key not in sent_stories and not entry.story.article_ids & sent_articles
            and linkable(entry.story.lead))


def _eligible(entries: Iterable[StoryScore], sub: SubscriberRecord, sent_articles: set[int],
              sent_stories: set[str]) -> list[tuple[StoryScore, str]]:
    out = []
    for entry in entries:
        if not _new(entry, sent_articles, sent_stories):
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
