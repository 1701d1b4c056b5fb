"""Planning an edition: its window, its ranking, and one delivery row per due subscriber."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings, parse_hhmm
from digest.models import WEEKDAYS, DeliveryItem, DeliveryStatus, SubscriberRecord
from digest.ranking import Ranking, RankParams, rank
from digest.select import Selection, select_for, variant_key
from digest.stories import group_stories


@dataclass(frozen=True)
class EditionPlan:
    key: str
    period: str
    day: date
    cutoff: datetime  # the edition's send time: articles before it, ranked as of it
    window_start: datetime
    half_life_hours: float
    slot: tuple[str, str] | None = None  # (timezone, send_at): only the subscribers of this local send time


def edition_plans(settings: Settings, day: date, *, slot: tuple[str, str] | None = None,
                  periods: Sequence[str] = ("daily", "weekly")) -> list[EditionPlan]:
    """The editions of `day`. With a slot, the window ends at that local send time instead of the default."""
    if slot is None:
        cutoff = datetime.combine(day, settings.send_time, tzinfo=settings.tz)
    else:
        cutoff = datetime.combine(day, parse_hhmm(slot[1]), tzinfo=ZoneInfo(slot[0]))
    sel = settings.selection
    plans = {
        "daily": EditionPlan(f"daily:{day.isoformat()}", "daily", day, cutoff,
                             cutoff - timedelta(hours=sel.window_hours), sel.half_life_hours, slot),
        "weekly": EditionPlan(f"weekly:{day.isoformat()}", "weekly", day, cutoff,
                              cutoff - timedelta(hours=sel.weekly_window_hours), sel.weekly_half_life_hours, slot),
    }
    return [plans[p] for p in periods]


def rank_params(settings: Settings, plan: EditionPlan) -> RankParams:
    sel = settings.selection
    return RankParams(half_life_hours=plan.half_life_hours, gravity=sel.gravity,
                      weights={"view": sel.weight_view, "comment": sel.weight_comment, "click": sel.weight_click,
                               "share": sel.weight_share},
                      trending_window_hours=sel.trending_window_hours, baseline_hours=sel.trending_baseline_hours,
                      trending_min_views=sel.trending_min_views, trending_min_z=sel.trending_min_z)


def edition_ranking(session, settings: Settings, plan: EditionPlan) -> Ranking:
    articles = store.candidate_articles(session, start=plan.window_start, end=plan.cutoff)
    lookback = max(plan.cutoff - plan.window_start,
                   timedelta(hours=settings.selection.trending_window_hours + settings.selection.trending_baseline_hours))
    events = store.engagement_for(session, article_ids=[a.id for a in articles], start=plan.cutoff - lookback,
                                  end=plan.cutoff)
    return rank(group_stories(articles), events, now=plan.cutoff, params=rank_params(settings, plan))


def select_subscriber(session, settings: Settings, ranking: Ranking, subs: Sequence[SubscriberRecord],
                      edition_id: int | None) -> Iterator[tuple[SubscriberRecord, Selection]]:
    carried = store.carried_articles(session, subscriber_ids=[s.id for s in subs], exclude_edition=edition_id)
    for sub in subs:
        sent_articles, sent_stories = carried.get(sub.id, (set(), set()))
        yield sub, select_for(sub, ranking, sent_articles=sent_articles, sent_stories=sent_stories,
                              trending_items=settings.selection.trending_items)


def delivery_items(selection: Selection) -> list[DeliveryItem]:
    return [DeliveryItem(article_id=p.entry.story.lead.id, story_key=p.entry.story.key, section=p.section,
                         position=i, score=p.entry.score,
                         why={**p.entry.why(), "filters": p.reason, "also": [a.id for a in p.entry.story.articles[1:4]]})
            for i, p in enumerate(selection.picks)]


def due_pages(session, plan: EditionPlan, emails: Sequence[str], page: int = 1000) -> Iterator[list[SubscriberRecord]]:
    after = 0
    weekday = WEEKDAYS[plan.day.weekday()]
    while subs := store.due_subscribers(session, period=plan.period, weekday=weekday, emails=emails,
                                        after_id=after, limit=page, slot=plan.slot):
        yield subs
        after = subs[-1].id


def plan_edition(engine: Engine, settings: Settings, plan: EditionPlan, *, now: datetime,
                 emails: Sequence[str] = (), deadline: datetime | None = None) -> tuple[int, int]:
    """Write one `queued` or `skipped` delivery per due subscriber who has none yet: (edition id, planned).

    `deadline` moves the edition's deadline later if it is earlier (never earlier).
    """
    with store.session_scope(engine) as session:
        if not _any_due(session, plan, emails) and store.find_edition(session, key=plan.key) is None:
            return 0, 0
        edition = store.ensure_edition(session, key=plan.key, period=plan.period, date=plan.day.isoformat(),
                                       cutoff_at=plan.cutoff, now=now)
        edition_id = edition.id
        if deadline is not None:
            store.extend_deadline(session, edition_id=edition_id, deadline=deadline)
    ranking = None  # ranked only if someone is still to plan: repeated daemon ticks stay cheap
    planned = 0
    with store.session_scope(engine) as session:
        for subs in due_pages(session, plan, emails):
            done = store.planned_subscriber_ids(session, edition_id=edition_id, subscriber_ids=[s.id for s in subs])
            fresh = [s for s in subs if s.id not in done]
            if fresh and ranking is None:
                ranking = edition_ranking(session, settings, plan)
            rows = [(sub.id, DeliveryStatus.skipped if selection.skip_reason else DeliveryStatus.queued,
                     None if selection.skip_reason else variant_key(sub.format, selection.picks),
                     selection.skip_reason, delivery_items(selection))
                    for sub, selection in select_subscriber(session, settings, ranking, fresh, edition_id)]
            planned += store.add_deliveries(session, edition_id=edition_id, planned=rows, now=now)
            session.commit()
    return edition_id, planned


def _any_due(session, plan: EditionPlan, emails: Sequence[str]) -> bool:
    return next(due_pages(session, plan, emails, page=1), None) is not None
