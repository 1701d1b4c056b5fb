"""Content: import articles (`digest ingest`), import engagement events, list stored articles.

Reading and storing the articles is `digest.ingest` (`ingest.load`); here the options are checked and the
engine opened. Events name stored articles: an unknown one rejects the whole file, nothing stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.errors import InputError
from digest.ingest.detect import FORMATS
from digest.ingest.events import load_events
from digest.ingest.load import IngestReport, ingest_sources
from digest.ingest.sources import SourceOptions
from digest.ingest.tabular import parse_map
from digest.models import Article
from digest.operations.common import engine_for

__all__ = ["FORMATS", "EventsReport", "IngestReport", "import_articles", "import_events", "list_articles"]


@dataclass(frozen=True)
class EventsReport:
    rows: int
    buckets: int  # hourly buckets the rows were added into

    def summary(self) -> str:
        return f"imported {self.rows} events into {self.buckets} hourly buckets"


def import_articles(settings: Settings, sources: Sequence[str], *, now: datetime, fmt: str = "auto",
                    mapping: str | None = None, url: str | None = None, client=None,
                    engine: Engine | None = None) -> IngestReport:
    """Read, parse and store each source (a file or an http(s) URL) on its own; `mapping` is `field=column,...`."""
    options = SourceOptions(now=now, fmt=fmt, mapping=parse_map(mapping), default_tz=settings.tz, url=url)
    return ingest_sources(engine or engine_for(settings), settings, sources, options=options, client=client)


def import_events(settings: Settings, path: Path, *, engine: Engine | None = None) -> EventsReport:
    """Add engagement events into hourly buckets, in one transaction."""
    rows = load_events(path)
    with store.session_scope(engine or engine_for(settings)) as session:
        by_url = store.articles.article_ids_by_url(session, urls=[r.url for r in rows if r.url])
        known = store.articles.known_article_ids(session, ids=[r.article_id for r in rows if r.article_id])
        missing = [r for r in rows if (r.url and r.url not in by_url) or (r.article_id and r.article_id not in known)]
        if missing:
            first = missing[0]
            raise InputError(f"{path}:{first.line}: no stored article {first.url or first.article_id} "
                             f"({len(missing)} rows name unknown articles); nothing was stored")
        buckets = store.engagement.add_engagement(session, events=[
            (by_url[r.url] if r.url else r.article_id, r.at, r.kind, r.count) for r in rows])
    return EventsReport(len(rows), buckets)


def list_articles(settings: Settings, *, since: datetime | None = None,
                  engine: Engine | None = None) -> Sequence[Article]:
    """Stored articles published since `since` (all if None), newest first."""
    with store.read_session(engine or engine_for(settings, readonly=True)) as session:
        return store.articles.list_articles(session, since=since)
