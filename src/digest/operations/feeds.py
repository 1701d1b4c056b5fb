"""Registered feeds: add (or change), list, pause, resume, remove, and poll them all now (as the daemon does
every `[feeds] poll_minutes`, skipping paused feeds; the polling itself is `digest.ingest.load`); and the
console's feeds page: each feed's last poll and its articles per day.

The `article` table records no feed, only each article's link and its source's name (the feed's title, which the
`feed` table does not keep). So a feed's articles per day are counted by host: the articles published that day
(UTC) whose link's host is the feed's, or under it, with a leading "www.", "feeds.", "feed." or "rss." set
aside (feeds.example.com counts the articles of www.example.com and news.example.com). A feed whose items link
to another site counts none; two feeds of one site count the same articles.
"""

from __future__ import annotations

from collections.abc import Sequence
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.errors import InputError
from digest.ingest.load import FeedPoll, poll_feeds as poll_all
from digest.ingest.normalize import canonical_url, clean_text, split_list
from digest.models import Feed
from digest.operations.common import engine_for


@dataclass(frozen=True)
class FeedAdded:
    url: str  # canonical
    created: bool  # False: an existing feed's topics and country changed


def add_feed(settings: Settings, url: str, *, now: datetime, topics: str | None = None,
             country: str | None = None, engine: Engine | None = None) -> FeedAdded:
    try:
        address = canonical_url(url)
    except ValueError as exc:
        raise InputError(f"feeds add: {exc}") from None
    with store.session_scope(engine or engine_for(settings)) as session:
        _feed, created = store.feeds.add_feed(session, url=address, topics=split_list(topics),
                                        country=clean_text(country) or None, now=now)
    return FeedAdded(address, created)


def list_feeds(settings: Settings, *, engine: Engine | None = None) -> Sequence[Feed]:
    with store.read_session(engine or engine_for(settings)) as session:  # read-write: creates the table if new
        return store.feeds.list_feeds(session)


def remove_feed(settings: Settings, url: str, *, engine: Engine | None = None) -> None:
    """Stop polling a feed (its articles stay); an unknown URL is an error."""
    with store.session_scope(engine or engine_for(settings)) as session:
        if not store.feeds.remove_feed(session, url=url):
            raise InputError(f"no feed {url} (see `digest feeds list`)")


def poll_feeds(settings: Settings, *, now: datetime, client=None, engine: Engine | None = None) -> list[FeedPoll]:
    """Fetch every registered feed not paused (conditional GET) and store its items; one feed's failure is its own."""
    return poll_all(engine or engine_for(settings), settings, now, client=client)


def pause_feed(settings: Settings, url: str, *, now: datetime, engine: Engine | None = None) -> str:
    """Polling skips the feed until it is resumed (its articles stay); a one-line result."""
    return _pause(settings, url, now, engine)


def resume_feed(settings: Settings, url: str, *, engine: Engine | None = None) -> str:
    """The next poll fetches the feed again; a one-line result."""
    return _pause(settings, url, None, engine)


def _pause(settings: Settings, url: str, when: datetime | None, engine: Engine | None) -> str:
    address = url.strip()
    with store.session_scope(engine or engine_for(settings)) as session:
        found, before = store.feeds.set_paused(session, url=address, paused_at=when)
    if not found:
        raise InputError(f"no feed {address} (see `digest feeds list`)")
    if when is None:
        return f"resumed {address}" if before else f"{address} was not paused"
    return f"{address} was paused already (since {before:%Y-%m-%d %H:%M} UTC)" if before else f"paused {address}"


DAYS_SHOWN = 7
SET_ASIDE = ("www.", "feeds.", "feed.", "rss.")


@dataclass(frozen=True)
class FeedLine:
    feed: dict  # the row's fields (FEED_FIELDS)
    per_day: tuple[int, ...]  # articles per day, oldest first, by host (see the module docstring)


@dataclass(frozen=True)
class FeedsPage:
    days: tuple[str, ...]  # ISO dates, oldest first, today (UTC) last
    feeds: tuple[FeedLine, ...]

    def doc(self) -> dict:
        return {"days": list(self.days), "counted_by": "host",
                "feeds": [{**f.feed, "articles_per_day": dict(zip(self.days, f.per_day))} for f in self.feeds]}


FEED_FIELDS = ("url", "topics", "country", "status", "http_status", "last_fetch_at", "last_ok_at", "last_result",
               "last_error", "paused_at", "created_at")


def _host(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    for prefix in SET_ASIDE:
        if host.startswith(prefix) and host.count(".") > 1:
            return host[len(prefix):]
    return host


def _under(host: str, base: str) -> bool:
    return bool(base) and (host == base or host.endswith("." + base))


def feeds_page(settings: Settings, *, now: datetime, engine: Engine | None = None) -> FeedsPage:
    """Every feed with its last poll and its articles of each of the last DAYS_SHOWN days (UTC)."""
    today = now.date()
    days = tuple((today - timedelta(days=n)).isoformat() for n in range(DAYS_SHOWN - 1, -1, -1))
    start = datetime.combine(today - timedelta(days=DAYS_SHOWN - 1), datetime.min.time(), tzinfo=now.tzinfo)
    with store.read_session(engine or engine_for(settings)) as session:
        feeds = [{k: getattr(f, k) for k in FEED_FIELDS} for f in store.feeds.list_feeds(session)]
        articles = Counter((_host(url), at.date().isoformat()) for url, at in
                           store.feeds.recent_articles(session, since=start))
    lines = []
    for feed in feeds:
        base = _host(feed["url"])
        counts = Counter()
        for (host, day), n in articles.items():
            if _under(host, base):
                counts[day] += n
        lines.append(FeedLine({**feed, "status": str(feed["status"])}, tuple(counts[d] for d in days)))
    return FeedsPage(days, tuple(lines))
