"""Storing what was read: sources and registered feeds are read by the rest of `digest.ingest` and stored here
(`digest ingest`, `digest feeds poll`, the daemon's and the workers' feed polling).

Each source is stored in its own transaction: a source that fails (a network error, an HTTP error, a bad
export) costs only itself. Inside a feed or page, what `digest.ingest` rejected is reported, never stored;
what it accepted is stored whole.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.errors import DigestError, InputError
from digest.ingest.article import Batch, Rejected
from digest.ingest.detect import detect_format
from digest.ingest.fetch import Fetched, fetch, open_client
from digest.ingest.sources import SourceOptions, parse_document, read_source
from digest.ingest.tabular import RowsRejected
from digest.models import FeedStatus, TrendingSignal

log = logging.getLogger("digest.ingest")
OUTCOMES = ("new", "updated", "unchanged")


@dataclass
class IngestReport:
    """Counts over every source, each rejected item, and one line per source that failed."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    rejected: list[Rejected] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    rejected_rows: int = 0  # rows of tabular exports refused whole (their messages are in `failures`)
    trending: int = 0

    @property
    def ok(self) -> bool:
        return not self.rejected and not self.failures

    def add(self, counts: dict[str, int]) -> None:
        for key in OUTCOMES:
            self.counts[key] += counts.get(key, 0)

    def summary(self) -> str:
        c = self.counts
        return (f"ingested {c['new']} new, {c['updated']} updated, {c['unchanged']} unchanged, "
                f"{len(self.rejected) + self.rejected_rows} rejected")


@dataclass(frozen=True, slots=True)
class FeedPoll:
    """The outcome of polling one registered feed."""

    url: str
    status: FeedStatus
    result: str = ""  # "3 new, 0 updated, 10 unchanged, 1 rejected"
    error: str | None = None


def ingest_sources(engine: Engine, settings: Settings, sources: Sequence[str], *, options: SourceOptions,
                   client=None) -> IngestReport:
    """Read, parse and store each source (file path or http(s) URL) on its own."""
    report = IngestReport()
    for source in sources:
        try:
            batch = read_source(source, options, settings.feeds, client=client)
        except RowsRejected as exc:
            report.failures.append(str(exc))
            report.rejected_rows += exc.count
            continue
        except InputError as exc:
            report.failures.append(str(exc))
            continue
        except Exception as exc:  # a parser's bug on odd bytes costs that source, never the sources after it
            log.debug("reading %s", source, exc_info=True)
            report.failures.append(f"{source}: cannot read it ({_first_line(exc)})")
            continue
        report.rejected += batch.rejected
        report.add(store_batch(engine, batch, now=options.now))
        report.trending += len(batch.trending)
    return report


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:200]}" if text else type(exc).__name__


def store_batch(engine: Engine, batch: Batch, *, now: datetime) -> dict[str, int]:
    """The batch's articles (new, updated or unchanged) and trending headlines, in one transaction."""
    with store.session_scope(engine) as session:
        counts = store.articles.upsert_article_rows(session, rows=[a.row() for a in batch.articles], now=now)
        if batch.trending:
            store.trending.add_trending_signals(session, signals=[trending_signal(t) for t in batch.trending])
    return counts


def trending_signal(headline) -> TrendingSignal:
    return TrendingSignal(page_url=headline.page_url, source=headline.source, title=headline.title,
                          title_key=" ".join(headline.title.lower().split()), rank=headline.rank,
                          region=headline.region, seen_at=headline.seen_at)


# ── registered feeds ───────────────────────────────────────────────────────────────────────────────

@dataclass(frozen=True, slots=True)
class FeedTarget:
    id: int
    url: str
    etag: str | None
    last_modified: str | None
    topics: tuple[str, ...]
    country: str | None


def poll_feeds(engine: Engine, settings: Settings, now: datetime, *, client=None) -> list[FeedPoll]:
    """Fetch every registered feed that is not paused (conditional GET) and store its items; one feed's failure
    is its own."""
    with store.session_scope(engine) as session:
        targets = [FeedTarget(f.id, f.url, f.etag, f.last_modified, tuple(f.topics or ()), f.country)
                   for f in store.feeds.list_feeds(session) if f.paused_at is None]
    own = client is None and bool(targets)
    client = open_client(settings.feeds) if own else client
    try:
        return [poll_feed(engine, settings, target, now, client=client) for target in targets]
    finally:
        if own:
            client.close()


def poll_feed(engine: Engine, settings: Settings, target: FeedTarget, now: datetime, *, client=None) -> FeedPoll:
    try:
        fetched = fetch(target.url, settings.feeds, etag=target.etag, last_modified=target.last_modified,
                        client=client)
        if fetched.not_modified:
            _record(engine, target, now, status=FeedStatus.not_modified, http_status=304)
            return FeedPoll(target.url, FeedStatus.not_modified)
        result = _store_feed(engine, settings, target, fetched, now)
    except DigestError as exc:
        _record(engine, target, now, status=FeedStatus.error, error=str(exc).splitlines()[0])
        log.warning("feed %s: %s", target.url, str(exc).removeprefix(f"{target.url}: ").splitlines()[0])
        return FeedPoll(target.url, FeedStatus.error, error=str(exc))
    _record(engine, target, now, status=FeedStatus.ok, http_status=fetched.status, etag=fetched.etag,
            last_modified=fetched.last_modified, result=result)
    return FeedPoll(target.url, FeedStatus.ok, result=result)


def _store_feed(engine: Engine, settings: Settings, target: FeedTarget, fetched: Fetched, now: datetime) -> str:
    kind = detect_format(fetched.body[:8192], name=target.url, content_type=fetched.content_type)
    if kind != "rss":
        raise InputError(f"{target.url}: not an RSS or Atom feed (it looks like {kind})")
    options = SourceOptions(now=now, fmt="rss", default_tz=settings.tz, topics=target.topics,
                            country=target.country)
    batch = parse_document(target.url, fetched.body, options, content_type=fetched.content_type,
                           base_url=fetched.url)
    if not batch.articles and any(r.position == "feed" for r in batch.rejected):
        raise InputError(str(batch.rejected[0]))
    for rejected in batch.rejected:
        log.warning("rejected %s", rejected)
    counts = store_batch(engine, batch, now=now)
    return ", ".join(f"{counts.get(k, 0)} {k}" for k in OUTCOMES) + f", {len(batch.rejected)} rejected"


def _record(engine: Engine, target: FeedTarget, now: datetime, **fields) -> None:
    with store.session_scope(engine) as session:
        store.feeds.record_feed_fetch(session, feed_id=target.id, now=now, **fields)


def poll_job(engine: Engine, settings: Settings, clock: Callable[[], datetime]) -> Callable[[], list[FeedPoll]]:
    """The daemon's job: poll every feed; nothing a feed does can stop the scheduler."""
    def job() -> list[FeedPoll]:
        try:
            polls = poll_feeds(engine, settings, clock())
        except Exception as exc:  # the store is down, say: log it, try again next time
            log.error("feed polling stopped: %s: %s", type(exc).__name__, exc)
            return []
        for poll in polls:
            if poll.status != FeedStatus.error:  # an error was logged once, as a warning, where it happened
                log.info("feed %s: %s %s", poll.url, poll.status, poll.result or "")
        return polls

    return job
