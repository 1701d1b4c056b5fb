"""The content tables: articles, their hourly engagement, story assignments, registered feeds and trending
signals.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from digest.models.types import json_list_field, utc_field
from digest.models.vocabulary import EventKind, FeedStatus


class Article(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(unique=True, index=True)
    guid: str = Field(default="", index=True)
    title: str
    summary: str = ""
    body: str = ""
    source: str = ""
    author: str | None = None
    location: str | None = None
    country: str | None = None
    topics: list[str] = json_list_field()
    image_url: str | None = None
    published_at: datetime = utc_field(index=True)
    updated_at: datetime = utc_field()
    content_hash: str = ""


class Engagement(SQLModel, table=True):
    # (hour, article_id, kind, count) covers the aggregation of an hour range; (article_id, hour, kind, count)
    # the ranking's per-article pass (store.engagement.article_engagement): neither reads the table itself
    __table_args__ = (UniqueConstraint("article_id", "hour", "kind"),
                      Index("ix_engagement_signals", "hour", "article_id", "kind", "count"),
                      Index("ix_engagement_article_hour", "article_id", "hour", "kind", "count"))
    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="article.id", index=True)
    hour: datetime = utc_field(index=True)
    kind: EventKind
    count: int = 0




class StoryAssignment(SQLModel, table=True):
    """Which story an article belongs to: written when an edition is planned, so a story keeps its key."""

    article_id: int = Field(foreign_key="article.id", primary_key=True)
    story_key: str = Field(index=True)
    assigned_at: datetime = utc_field()




class Feed(SQLModel, table=True):
    """A registered RSS or Atom feed, polled by the daemon with conditional GET."""

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(unique=True, index=True)
    topics: list[str] = json_list_field()  # added to every item's categories
    country: str | None = None  # for items that name none
    etag: str | None = None
    last_modified: str | None = None
    status: FeedStatus = FeedStatus.new
    http_status: int | None = None
    last_error: str | None = None
    last_result: str | None = None  # "3 new, 1 updated, 20 unchanged, 0 rejected"
    created_at: datetime = utc_field()
    last_fetch_at: datetime | None = utc_field(nullable=True)
    last_ok_at: datetime | None = utc_field(nullable=True)
    paused_at: datetime | None = utc_field(nullable=True)  # an operator's pause: polling skips it until resumed


class TrendingSignal(SQLModel, table=True):
    """A headline a page listed as trending (rank, region label), for the story it names."""

    __table_args__ = (UniqueConstraint("page_url", "title"),)
    id: int | None = Field(default=None, primary_key=True)
    page_url: str = Field(index=True)
    source: str = ""
    title: str
    title_key: str = Field(default="", index=True)  # lower-cased words only, to match article titles
    rank: int = 0
    region: str | None = None
    seen_at: datetime = utc_field(index=True)
    article_id: int | None = Field(default=None, foreign_key="article.id", index=True)
