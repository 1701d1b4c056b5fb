"""Planning an edition: its window, its ranking, and one delivery row per due subscriber."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings, parse_hhmm
from digest.config.newsletters import DEFAULT_KEY, Newsletter
from digest.editorial import Controls, apply_controls, fold
from digest.models import WEEKDAYS, DeliveryStatus, SubscriberRecord
from digest.ranking import Ranking, RankParams, Signals, decay_factors, named_trending, rank
from digest.pipeline.pool import edition_pool, reference_curve
from digest.select import Diversity, Selection, select_for, variant_key
from digest.stories import Story, StoryParams, group_stories

OnSkip = Callable[[str, str, str], None]  # (edition key, email, reason): a reader this run does not send to
AWAITING_APPROVAL = "awaiting_approval"  # edition.held while `[send] approval = "required"` waits for an editor


@dataclass(frozen=True)
class EditionPlan:
    key: str  # "morning:2017-02-09", "morning:weekly:2017-02-09"
    period: str
    day: date
    cutoff: datetime  # the edition's send time: articles before it, ranked as of it
    window_start: datetime
    half_life_hours: float
    slot: tuple[str, str] | None = None  # (timezone, send_at): only the subscribers of this local send time
    newsletter: str = DEFAULT_KEY  # its [[newsletters]] key
    every_reader: bool = False  # a newsletter with one rhythm (weekly:DAY, cron): every subscriber, whatever their frequency
    max_items: int = 0  # the newsletter's cap on each reader's own (0: none)


def edition_plans(settings: Settings, day: date, *, slot: tuple[str, str] | None = None,
                  periods: Sequence[str] = ("daily", "weekly"), newsletters: Sequence[str] | None = None
                  ) -> list[EditionPlan]:
    """The editions of `day` of each newsletter (`newsletters`: those keys only) whose schedule has one that day.
    With a slot, the window ends at that local send time instead of the newsletter's default."""
    letters = settings.newsletters if newsletters is None else [settings.newsletter(k) for k in newsletters]
    found = []
    for letter in letters:
        zone = ZoneInfo(slot[0]) if slot else settings.tz
        if not letter.sends_on(day, zone):
            continue
        for period in periods if letter.offers_weekly else [_rhythm(letter)]:
            if period in periods:
                found.append(edition_plan(settings, letter.key, day, period, slot=slot))
    return found


def _rhythm(letter: Newsletter) -> str:
    return "weekly" if letter.kind == "weekly" else "daily"


def edition_plan(settings: Settings, newsletter: str, day: date, period: str, *,
                 slot: tuple[str, str] | None = None) -> EditionPlan:
    """One newsletter's edition of `day` (the send path of an edition that exists: a shard, a retry, the archive)."""
    letter = settings.newsletter(newsletter)
    zone, send_at = (ZoneInfo(slot[0]), slot[1]) if slot else (settings.tz, letter.send_at)
    cutoff = datetime.combine(day, parse_hhmm(send_at), tzinfo=zone)
    sel = settings.selection
    hours, half_life = ((sel.weekly_window_hours, sel.weekly_half_life_hours) if period == "weekly"
                        else (sel.window_hours, sel.half_life_hours))
    if letter.kind == "cron":  # the window reaches back to the schedule's edition before this one
        since = datetime.combine(letter.previous_day(day, zone), parse_hhmm(send_at), tzinfo=zone)
        hours = max(hours, (cutoff - since).total_seconds() / 3600)
    return EditionPlan(letter.edition_key(day, period), period, day, cutoff, cutoff - timedelta(hours=hours),
                       half_life, slot, letter.key, every_reader=not letter.offers_weekly,
                       max_items=letter.max_items)


def rank_params(settings: Settings, plan: EditionPlan) -> RankParams:
    sel = settings.selection
    return RankParams(half_life_hours=plan.half_life_hours, gravity=sel.gravity,
                      weights={"view": sel.weight_view, "comment": sel.weight_comment, "click": sel.weight_click,
                               "share": sel.weight_share},
                      trending_window_hours=sel.trending_window_hours, baseline_hours=sel.trending_baseline_hours,
                      trending_min_views=sel.trending_min_views, trending_min_z=sel.trending_min_z)


def edition_controls(session, key: str) -> Controls:
    """The editors' pins, exclusions, note and approval of the edition `key` (it need not exist yet)."""
    return fold(store.editorial.changes(session, edition_key=key))


def edition_ranking(session, settings: Settings, plan: EditionPlan, controls: Controls | None = None, *,
                    depth: int | None = None) -> Ranking:
    """The edition's candidates (within its newsletter's topics and countries) ranked as of its cutoff, as its
    editors steered it: their excluded articles left out, their pinned ones in (from outside the window too).

    Ranked in SQL first (`pipeline.pool`): only the candidates that can reach a digest are loaded and clustered,
    the `depth` best per topic × country (None: `edition_depth`; 0: every candidate)."""
    controls = edition_controls(session, plan.key) if controls is None else controls
    letter = settings.newsletter(plan.newsletter)
    params = rank_params(settings, plan)
    boxes = store.trending.trending_signals(session, start=plan.window_start, end=plan.cutoff)  # sources' "Trending" boxes
    found = edition_pool(session, start=plan.window_start, now=plan.cutoff, params=params,
                         curve=reference_curve(session, start=plan.window_start, now=plan.cutoff, params=params),
                         depth=edition_depth(session, settings, plan) if depth is None else depth,
                         covers=letter.covers if letter.topics or letter.countries else None,
                         excluded=controls.excluded_articles, keep={p.article_id for p in controls.pins},
                         boxes=[(b.article_id, b.title) for b in boxes])
    articles = found.articles
    missing = {p.article_id for p in controls.pins} - {a.id for a in articles}
    articles += store.articles.articles_by_id(session, ids=missing).values() if missing else []
    named = named_trending([(b.article_id, b.title, b.rank) for b in boxes], {a.id: a.title for a in articles})
    ranking = rank(edition_stories(session, settings, articles), replace(found.signals, named=named),
                   now=plan.cutoff, params=params)
    return apply_controls(ranking, controls)


def edition_depth(session, settings: Settings, plan: EditionPlan) -> int:
    """Units kept per cell: three times the most stories a reader can get (their largest `max_items`, within the
    newsletter's cap) and the trending slots, so that topic caps, diversity and what a reader was already sent
    find what they skip past within the pool."""
    most = store.subscriptions.largest_max_items(session) or settings.selection.max_items
    most = min(most, plan.max_items) if plan.max_items else most
    return 3 * (max(1, most) + settings.selection.trending_items)


def edition_signals(session, plan: EditionPlan, params: RankParams) -> Signals:
    """Engagement of the edition's candidates, aggregated by the database as of the edition's cutoff."""
    w, b, now = timedelta(hours=params.trending_window_hours), timedelta(hours=params.baseline_hours), plan.cutoff
    factors = decay_factors(min(plan.window_start, now - w - b), now, params.half_life_hours)
    rows = store.engagement.engagement_signals(session, start=plan.window_start, now=now, factors=factors,
                                    weights=dict(params.weights), recent_since=now - w, baseline_since=now - w - b)
    return Signals(engagement={a: e for a, e, _, _ in rows}, recent={a: r for a, _, r, _ in rows if r},
                   baseline={a: x for a, _, _, x in rows if x},
                   curve=reference_curve(session, start=plan.window_start, now=plan.cutoff, params=params))


def select_subscriber(session, settings: Settings, ranking: Ranking, subs: Sequence[SubscriberRecord],
                      edition_id: int | None, selector: Selector | None = None, newsletter: str | None = None
                      ) -> Iterator[tuple[SubscriberRecord, Selection]]:
    """Each reader's selection, leaving out what `newsletter`'s other editions already sent them."""
    if not subs:
        return
    selector = selector or Selector(settings, ranking)
    carried = store.deliveries.carried_articles(session, subscriber_ids=[s.id for s in subs], exclude_edition=edition_id,
                                                newsletter=newsletter)
    for sub in subs:
        yield sub, selector.select(sub, *carried.get(sub.id, (set(), set())))


class Selector:
    """Selection per subscriber, computed once per distinct (preferences, history within this edition's
    candidates): readers with the same topics, countries and caps who were sent the same of these stories
    get the same digest, so 100,000 readers cost a few hundred selections, not 100,000."""

    def __init__(self, settings: Settings, ranking: Ranking) -> None:
        self.settings, self.ranking = settings, ranking
        entries = [*ranking.top, *(e for e, _ in ranking.pins)]
        self.articles = frozenset(a.id for e in entries for a in e.story.articles)
        self.stories = frozenset(e.story.key for e in entries)
        self.cache: dict[tuple, Selection] = {}
        self.items: dict[int, list[dict]] = {}

    def select(self, sub: SubscriberRecord, sent_articles: set[int], sent_stories: set[str]) -> Selection:
        key = (sub.topics, sub.countries, sub.max_items, sub.format, sub.frequency,
               self.articles.intersection(sent_articles), self.stories.intersection(sent_stories))
        found = self.cache.get(key)
        if found is None:
            found = self.cache[key] = select_for(sub, self.ranking, sent_articles=sent_articles,
                                                 sent_stories=sent_stories,
                                                 trending_items=self.settings.selection.trending_items,
                                                 diversity=diversity(self.settings))
        return found

    def delivery_items(self, selection: Selection) -> list[dict]:
        """The items of a selection, `why` as its JSON text: made once for all the readers sharing it (the
        selections are cached, so their ids stay theirs)."""
        found = self.items.get(id(selection))
        if found is None:
            found = self.items[id(selection)] = [{**item, "why": json.dumps(item["why"])}
                                                 for item in delivery_items(selection)]
        return found


def delivery_items(selection: Selection) -> list[dict]:
    return [{"article_id": p.entry.story.lead.id, "story_key": p.entry.story.key, "section": p.section,
             "position": i, "score": p.entry.score, "why": p.why()}
            for i, p in enumerate(selection.picks)]


def due_pages(session, plan: EditionPlan, emails: Sequence[str], page: int = 1000) -> Iterator[list[SubscriberRecord]]:
    after = 0
    weekday = WEEKDAYS[plan.day.weekday()]
    cap = plan.max_items  # the newsletter's cap on every reader's own (0: none)
    while subs := store.subscriptions.due_subscribers(session, period=plan.period, weekday=weekday, emails=emails,
                                                    newsletter=plan.newsletter, every_reader=plan.every_reader,
                                                    after_id=after, limit=page, slot=plan.slot, day=plan.day):
        yield [replace(s, max_items=min(s.max_items, cap)) for s in subs] if cap else subs
        after = subs[-1].id


def plan_edition(engine: Engine, settings: Settings, plan: EditionPlan, *, now: datetime, emails: Sequence[str] = (),
                 deadline: datetime | None = None, on_skip: OnSkip | None = None) -> tuple[int, int]:
    """Write one `queued` or `skipped` delivery per due subscriber who has none yet: (edition id, planned).
    `deadline` moves the edition's deadline later (never earlier); `on_skip` hears of each reader skipped."""
    if not (edition_id := open_edition(engine, plan, now=now, emails=emails, deadline=deadline)):
        return 0, 0
    return edition_id, plan_deliveries(engine, settings, plan, edition_id, now=now, emails=emails, on_skip=on_skip)


def open_edition(engine: Engine, plan: EditionPlan, *, now: datetime, emails: Sequence[str] = (),
                 deadline: datetime | None = None) -> int:
    """The edition's id, its row made if someone is due (0: nobody is, and it has none)."""
    with store.session_scope(engine) as session:
        if not _any_due(session, plan, emails) and store.editions.find_edition(session, key=plan.key) is None:
            return 0
        edition = store.editions.ensure_edition(session, key=plan.key, period=plan.period, date=plan.day.isoformat(),
                                                cutoff_at=plan.cutoff, now=now, newsletter=plan.newsletter)
        if deadline is not None:
            store.editions.extend_deadline(session, edition_id=edition.id, deadline=deadline)
        return edition.id


def plan_deliveries(engine: Engine, settings: Settings, plan: EditionPlan, edition_id: int, *, now: datetime,
                    emails: Sequence[str] = (), on_skip: OnSkip | None = None) -> int:
    """The delivery rows of the readers due for an open edition who have none yet, a page committed at a time
    (a sender may send each page meanwhile: `pipeline.planner`). Returns the rows written."""
    ranking = selector = None  # ranked only if someone is still to plan: repeated daemon ticks stay cheap
    planned = 0
    with store.session_scope(engine) as session:
        for subs in due_pages(session, plan, emails):
            done = store.deliveries.planned_subscriber_ids(session, edition_id=edition_id, subscriber_ids=[s.id for s in subs])
            fresh = [s for s in subs if s.id not in done]
            if fresh and ranking is None:
                ranking = edition_ranking(session, settings, plan)
                store.stories.save_story_assignments(session, assignments=story_assignments(ranking), now=now)
                selector = Selector(settings, ranking)
            selected = list(select_subscriber(session, settings, ranking, fresh, edition_id, selector, plan.newsletter))
            planned += store.deliveries.add_deliveries(session, edition_id=edition_id, now=now,
                                            planned=[delivery_row(sub, s, selector) for sub, s in selected])
            session.commit()
            for sub, selection in selected if on_skip else ():
                if selection.skip_reason:
                    on_skip(plan.key, sub.email, selection.skip_reason)
    return planned


def delivery_row(sub: SubscriberRecord, selection: Selection, selector: Selector) -> tuple:
    """(subscriber id, status, variant key, skip reason, items): the row `store.deliveries.add_deliveries` writes."""
    skipped = selection.skip_reason
    return (sub.id, DeliveryStatus.skipped if skipped else DeliveryStatus.queued,
            None if skipped else variant_key(sub.format, selection.picks), skipped, selector.delivery_items(selection))


def awaiting_approval(engine: Engine, settings: Settings, plan: EditionPlan, *, now: datetime,
                      emails: Sequence[str] = ()) -> bool:
    """With `[send] approval = "required"`, whether `plan`'s edition still waits for an editor's approval: then
    its row (made if someone is due) is held "awaiting_approval" and nothing of it is planned. An edition that
    already has deliveries is never held back (approval asked for after it started changes nothing)."""
    if settings.send.approval != "required":
        return False
    with store.session_scope(engine) as session:
        if edition_controls(session, plan.key).approved:
            return False
        edition = store.editions.find_edition(session, key=plan.key)
        if edition is not None and store.editions.has_deliveries(session, edition_id=edition.id):
            return False
        if edition is None and not _any_due(session, plan, emails):
            return False
        edition = edition or store.editions.ensure_edition(session, key=plan.key, period=plan.period,
                                                           date=plan.day.isoformat(), cutoff_at=plan.cutoff,
                                                           now=now, newsletter=plan.newsletter)
        if edition.held is None:
            store.editions.set_held(session, edition_id=edition.id, held=AWAITING_APPROVAL)
    return True


def _any_due(session, plan: EditionPlan, emails: Sequence[str]) -> bool:
    return next(due_pages(session, plan, emails, page=1), None) is not None


# ── stories ─────────────────────────────────────────────────────────────────────────────────────────

def edition_stories(session, settings: Settings, articles) -> list[Story]:
    """The candidates grouped into stories, keeping the keys stored for their articles (read only)."""
    sel = settings.selection
    previous = store.stories.story_assignments(session, article_ids=[a.id for a in articles])
    return group_stories(articles, previous,
                         params=StoryParams(threshold=sel.story_threshold, window_hours=sel.story_window_hours))


def story_assignments(ranking: Ranking) -> dict[int, str]:
    """article id → story key for every article of the ranking: what `plan_edition` stores."""
    entries = [*ranking.top, *(entry for entry, _ in ranking.pins)]
    return {a.id: entry.story.key for entry in entries for a in entry.story.articles}


def diversity(settings: Settings) -> Diversity:
    return Diversity(mmr_lambda=settings.selection.mmr_lambda, topic_cap=settings.selection.topic_cap)
