"""Registered feeds: add (or change), list, remove, and poll them all now (as the daemon does every
`[feeds] poll_minutes`; the polling itself is `digest.ingest.load`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

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
    """Fetch every registered feed (conditional GET) and store its items; one feed's failure is its own."""
    return poll_all(engine or engine_for(settings), settings, now, client=client)
