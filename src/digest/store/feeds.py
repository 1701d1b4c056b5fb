"""Feeds (the `feed` table): registering, listing, pausing and removing them, and what the last poll of each
did; and, for the console's feeds page, the links and publication times of the articles of the last days (the
`article` table records no feed: the page counts them by the feed's host).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, select

from digest.models import Article, Feed, FeedStatus


def add_feed(session: Session, *, url: str, topics: Sequence[str], country: str | None, now: datetime
             ) -> tuple[Feed, bool]:
    """Register a feed, or update the topics and country of one already registered: (feed, created)."""
    feed = find_feed(session, url=url)
    created = feed is None
    if created:
        feed = Feed(url=url, created_at=now)
        session.add(feed)
    feed.topics, feed.country = list(topics), country
    session.flush()
    return feed, created


def find_feed(session: Session, *, url: str) -> Feed | None:
    return session.exec(select(Feed).where(Feed.url == url)).first()


def list_feeds(session: Session) -> list[Feed]:
    return list(session.exec(select(Feed).order_by(Feed.id)))


def set_paused(session: Session, *, url: str, paused_at: datetime | None) -> tuple[bool, datetime | None]:
    """Pause a feed (`paused_at` a time) or resume it (None): (found, when it was paused before)."""
    feed = find_feed(session, url=url)
    if feed is None:
        return False, None
    before = feed.paused_at
    if (before is None) != (paused_at is None):
        feed.paused_at = paused_at
        session.flush()
    return True, before


def recent_articles(session: Session, *, since: datetime) -> list[tuple[str, datetime]]:
    """(url, published_at) of every article published since `since` (the published_at index serves it)."""
    query = select(Article.url, Article.published_at).where(Article.published_at >= since)
    return [(url, at) for url, at in session.exec(query)]


def remove_feed(session: Session, *, url: str) -> bool:
    feed = find_feed(session, url=url)
    if feed is not None:
        session.delete(feed)
        session.flush()
    return feed is not None


def record_feed_fetch(session: Session, *, feed_id: int, now: datetime, status: FeedStatus,
                      http_status: int | None = None, etag: str | None = None, last_modified: str | None = None,
                      error: str | None = None, result: str | None = None) -> None:
    """What the last poll of a feed did; validators are kept from a 304 and replaced by a 200."""
    feed = session.get(Feed, feed_id)
    feed.status, feed.http_status, feed.last_fetch_at, feed.last_error = status, http_status, now, error
    if status == FeedStatus.ok:
        feed.etag, feed.last_modified, feed.last_result, feed.last_ok_at = etag, last_modified, result, now
    elif status == FeedStatus.not_modified:
        feed.last_ok_at = now
    session.flush()
