"""A date's stories (`digest stories`): the daily edition's same-event groups, best first, with their articles
and scores, from a read-only store. Writes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.operations.common import engine_for
from digest.pipeline.plan import EditionPlan, edition_plan, edition_ranking
from digest.stories import follow_ups


@dataclass(frozen=True)
class StoryList:
    plan: EditionPlan
    threshold: float  # [selection] story_threshold
    stories: list[dict]  # one document per story: rank, key, scores, trending, sources, articles

    def doc(self) -> dict:
        return {"edition": self.plan.key, "window": {"start": self.plan.window_start, "end": self.plan.cutoff},
                "threshold": self.threshold, "stories": self.stories}


def list_stories(settings: Settings, day: date, *, min_articles: int = 1, engine: Engine | None = None,
                 newsletter: str | None = None) -> StoryList:
    """The ranked stories of `newsletter`'s (default: the first's) edition of `day`."""
    letter = settings.newsletter(newsletter)
    plan = edition_plan(settings, letter.key, day, "weekly" if letter.kind == "weekly" else "daily")
    with store.read_session(engine or engine_for(settings, readonly=True)) as session:
        ranking = edition_ranking(session, settings, plan)
    trending = {e.story.key for e in ranking.trending}
    follows = follow_ups([entry.story for entry in ranking.top])
    docs = [story_doc(rank, entry, entry.story.key in trending, follows.get(entry.story.key))
            for rank, entry in enumerate(ranking.top, 1) if len(entry.story.articles) >= min_articles]
    return StoryList(plan, settings.selection.story_threshold, docs)


def story_doc(rank: int, entry, trending: bool, follows: str | None = None) -> dict:
    story = entry.story
    return {"rank": rank, "key": story.key, **entry.why(), "trending": trending, "sources": sorted(story.sources),
            "also": [a.id for a in story.also], "follows": follows, "grouped": story.reasons(),
            "articles": [{"id": a.id, "title": a.title, "source": a.source, "url": a.url,
                          "published_at": a.published_at, "representative": a is story.lead}
                         for a in story.articles]}
