"""The overview's charts (`GET /admin/charts.json`, and the same figures as a table on the overview): per
newsletter, over the editions of the last 30 days, sent, bounced, failed and unknown (the counts of `digest
status`, from `operations.admin.overview`), unsubscribed, complaints and clicks per edition, and the list size
at the end of each day.

* unsubscribed: readers whose subscription to the newsletter is unsubscribed now, changed in the window, for
  whom this was the last edition of it that went out to them before the change (their last edition before
  leaving); complaints: likewise for readers whose status is `complained` now.
* clicks: counted clicks (one per delivery and article: a reader's repeated clicks on one story count once).
* list size: the newsletter's subscriptions made by the end of that day (in `[schedule] timezone`) and not
  unsubscribed by then. A subscription records its latest change only: one that left and came back counts
  from its creation; a reader suppressed for a bounce or complaint counts while their subscription is active.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.operations.admin import OVERVIEW_DAYS, Overview, overview

STATUSES = ("sent", "bounced", "failed", "unknown")
SERIES = (*STATUSES, "unsubscribed", "complaints", "clicks")
LIST_SIZE = ("the newsletter's subscriptions made by the end of each day and not unsubscribed by then (a "
             "subscription records its latest change only; suppressed readers count while subscribed)")


@dataclass(frozen=True)
class EditionPoint:
    edition: str
    date: str
    figures: dict[str, int]  # SERIES → count


@dataclass(frozen=True)
class LetterCharts:
    key: str
    name: str
    editions: list[EditionPoint]  # oldest first
    list_size: list[tuple[str, int]]  # (date, subscriptions), one per day, oldest first

    def doc(self) -> dict:
        return {"key": self.key, "name": self.name,
                "editions": [{"edition": e.edition, "date": e.date, **e.figures} for e in self.editions],
                "list_size": [{"date": d, "subscriptions": n} for d, n in self.list_size]}


@dataclass(frozen=True)
class Charts:
    today: str
    since: str
    newsletters: list[LetterCharts] = field(default_factory=list)
    series: tuple[str, ...] = SERIES
    list_size_counts: str = LIST_SIZE
    overview: Overview | None = field(default=None, repr=False)  # what they were computed from (the page shows it)

    def doc(self) -> dict:
        """What `GET /admin/charts.json` answers."""
        return {"today": self.today, "since": self.since, "series": list(self.series),
                "list_size_counts": self.list_size_counts, "newsletters": [n.doc() for n in self.newsletters]}


def overview_charts(settings: Settings, today: date, *, engine: Engine, days: int = OVERVIEW_DAYS) -> Charts:
    """The charts' figures for the editions of the `days` days up to `today`: those of `overview`, returned with
    them (the overview page shows both from one reading)."""
    seen = overview(settings, today, engine=engine, days=days, brief=True)  # the page shows no reasons
    sizes = {e.edition: e.total for letter in seen.newsletters for _, e in letter.editions}
    keys = list(sizes)
    since = date.fromisoformat(seen.since)
    with store.read_session(engine) as session:
        clicks = store.edition_holds.clicks_per_edition(session, sizes=sizes) if keys else {}
        left, complained = store.edition_holds.leavers_per_edition(
            session, keys=keys, since=_start_of(settings, since)) if keys else ({}, {})
        largest = max(seen.newsletters, key=lambda n: max((e.total for _, e in n.editions), default=0), default=None)
        sizes = {letter.key: _list_size(session, settings, letter.key, since, today, largest=letter is largest)
                 for letter in seen.newsletters}
    letters = []
    for letter in seen.newsletters:
        points = [EditionPoint(e.edition, day, {**{s: e.counts.get(s, 0) for s in STATUSES},
                                                "unsubscribed": left.get(e.edition, 0),
                                                "complaints": complained.get(e.edition, 0),
                                                "clicks": clicks.get(e.edition, 0)})
                  for day, e in reversed(letter.editions)]
        letters.append(LetterCharts(letter.key, letter.name, points, sizes[letter.key]))
    return Charts(seen.today, seen.since, letters, overview=seen)


def _start_of(settings: Settings, day: date) -> datetime:
    """Midnight starting `day` in `[schedule] timezone`, in UTC."""
    return datetime.combine(day, time(), tzinfo=settings.tz).astimezone(timezone.utc)


def _list_size(session, settings: Settings, newsletter: str, since: date, today: date, *, largest: bool = False
               ) -> list[tuple[str, int]]:
    """The list size at the end of each day from `since` to `today`: the count before, then each change."""
    def end_of(day: date) -> datetime:
        return _start_of(settings, day + timedelta(days=1))

    start = _start_of(settings, since)
    before, changes = store.edition_holds.subscriptions_since(session, newsletter=newsletter, before=start,
                                                                     largest=largest)
    points, day = [], since
    while day <= today:
        end = end_of(day)
        made = sum(1 for created, _, _ in changes if start <= _utc(created) < end)
        gone = sum(1 for _, status, updated in changes if status == "unsubscribed" and _utc(updated) < end)
        points.append((day.isoformat(), before + made - gone))
        day += timedelta(days=1)
    return points


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
