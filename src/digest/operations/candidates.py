"""The next edition's ranked candidates, as its editors steered it: the pinned stories first, then every story
best first, each with its score, the reasons behind it and its articles (the console's plan page and
`digest editions candidates`). Read only: nothing is planned or stored."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.operations.common import engine_for
from digest.operations.editorial import ArticleRef
from digest.pipeline.plan import EditionPlan, edition_ranking
from digest.ranking import StoryScore


@dataclass(frozen=True)
class Candidate:
    rank: int  # 1 = best; the pins come first, numbered in their order
    story_key: str
    pinned: str | None  # the section it is pinned into, or None
    trending: bool  # qualifies as trending
    score: float
    why: dict  # basis, score, engagement, coverage, trending z, views, a source's trending rank
    articles: tuple[ArticleRef, ...]  # its lead first (a pinned story: the pinned article)

    def doc(self) -> dict:
        return asdict(self)


def candidates(settings: Settings, plan: EditionPlan, *, limit: int = 50, engine: Engine | None = None
               ) -> list[Candidate]:
    """Up to `limit` stories the edition would choose from, as of its cutoff, with the editors' controls."""
    engine = engine or engine_for(settings, readonly=True)
    with store.read_session(engine) as session:
        ranking = edition_ranking(session, settings, plan)
    trending = {e.story.key for e in ranking.trending}
    found = [_candidate(i, entry, section, trending) for i, (entry, section) in enumerate(ranking.pins, 1)]
    for entry in ranking.top[:max(0, limit - len(found))]:
        found.append(_candidate(len(found) + 1, entry, None, trending))
    return found


def _candidate(rank: int, entry: StoryScore, pinned: str | None, trending: set[str]) -> Candidate:
    articles = tuple(ArticleRef(a.id, a.title, a.url, a.source) for a in entry.story.articles)
    return Candidate(rank, entry.story.key, pinned, entry.story.key in trending, round(entry.score, 4), entry.why(),
                     articles)
