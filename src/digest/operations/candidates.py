"""The next edition's ranked candidates, as its editors steered it: the pinned stories first, then every story
best first, each with its score, the reasons behind it and its articles (the console's plan page and
`digest editions candidates`). Read only: nothing is planned or stored."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta

from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.errors import InputError
from digest.models import WEEKDAYS
from digest.operations import editorial
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


@dataclass(frozen=True)
class Upcoming:
    """An edition of the next days as the plan page lists it."""

    key: str
    newsletter: str
    date: str
    period: str
    state: str
    pins: int
    excluded: int
    note: bool


def upcoming(settings: Settings, today: date, *, days: int = 7, engine: Engine | None = None) -> list[Upcoming]:
    """Each newsletter's editions from `today` on, `days` days ahead: what an editor can still steer, and
    today's whatever its state."""
    engine = engine or engine_for(settings, readonly=True)
    found = []
    with store.read_session(engine) as session:
        weekly = {(key, weekday) for key, period, weekday, _, _ in store.subscriptions.send_slots(session)
                  if period == "weekly"}
        for letter in settings.newsletters:
            for day in (today + timedelta(days=n) for n in range(days)):
                for plan in _plans(settings, letter, day, weekly):
                    c = editorial.show_in(session, settings, plan)
                    found.append(Upcoming(plan.key, plan.newsletter, plan.day.isoformat(), plan.period, c.state,
                                          len(c.pins), len(c.excluded_articles) + len(c.excluded_stories),
                                          bool(c.note)))
    return found


def _plans(settings: Settings, letter, day: date, weekly: set[tuple[str, str]]) -> list[EditionPlan]:
    """The newsletter's editions of `day`: its own, and a daily newsletter's weekly one on a weekday some of
    its weekly readers chose."""
    if not letter.sends_on(day, settings.tz):
        return []
    plans = [editorial.edition_of(settings, day, newsletter=letter.key)]
    if letter.offers_weekly and (letter.key, WEEKDAYS[day.weekday()]) in weekly:
        plans.append(editorial.edition_of(settings, day, newsletter=letter.key, weekly=True))
    return plans


def plan_of_key(settings: Settings, key: str) -> EditionPlan:
    """The plan of an edition key ("morning:2026-12-03", "morning:weekly:2026-12-03"); InputError if it names no
    edition of a configured newsletter."""
    newsletter, _, rest = key.partition(":")
    weekly = rest.startswith("weekly:")
    try:
        day = date.fromisoformat(rest.removeprefix("weekly:"))
    except ValueError:
        raise InputError(f"no edition {key!r}") from None
    if newsletter not in {n.key for n in settings.newsletters}:
        raise InputError(f"no newsletter {newsletter!r} (edition {key})")
    return editorial.edition_of(settings, day, newsletter=newsletter, weekly=weekly)
