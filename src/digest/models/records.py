"""Plain records passed between the pure stages (nothing renders from lazy ORM objects), and how a row becomes
one.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import date, datetime

from digest.models.subscribers import Subscriber


@dataclass(frozen=True, slots=True)
class ArticleRecord:
    id: int
    url: str
    title: str
    summary: str
    source: str
    published_at: datetime
    location: str | None = None
    country: str | None = None
    topics: tuple[str, ...] = ()
    image_url: str | None = None
    story_key: str = ""
    lead: str = ""  # the body's first paragraph as plain text, for same-event clustering


@dataclass(frozen=True, slots=True)
class EngagementRecord:
    article_id: int
    hour: datetime
    kind: str
    count: int


@dataclass(frozen=True, slots=True)
class SubscriberRecord:
    id: int
    email: str
    name: str = ""
    status: str = "active"
    topics: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    frequency: str = "daily"
    weekday: str | None = None
    send_at: str = "07:00"
    timezone: str = "UTC"
    max_items: int = 10
    format: str = "html"
    paused_until: date | None = None
    token_key: str = ""  # the subscriber's identity in their tokens ("" only for links made before 0003)


def article_record(a, story_key: str = "") -> ArticleRecord:
    """A record from an Article, or from a row with the same columns."""
    return ArticleRecord(
        id=a.id, url=a.url, title=a.title, summary=a.summary, source=a.source, published_at=a.published_at,
        location=a.location, country=a.country, topics=tuple(a.topics or ()), image_url=a.image_url,
        story_key=story_key or f"a{a.id}", lead=lead_paragraph(a.body),
    )


def subscriber_record(s: Subscriber) -> SubscriberRecord:
    return SubscriberRecord(
        id=s.id, email=s.email, name=s.name, status=str(s.status), topics=tuple(s.topics or ()),
        countries=tuple(s.countries or ()), frequency=str(s.frequency), weekday=s.weekday, send_at=s.send_at,
        timezone=s.timezone, max_items=s.max_items, format=str(s.format), paused_until=s.paused_until,
        token_key=s.token_key or "",
    )


SUBSCRIBER_RECORD_FIELDS = ("id", "email", "name", "status", "topics", "countries", "frequency", "weekday",
                            "send_at", "timezone", "max_items", "format", "paused_until", "token_key")


def subscriber_records(rows) -> list[SubscriberRecord]:
    """`subscriber_record` of many rows holding SUBSCRIBER_RECORD_FIELDS in that order (a query of just those
    columns), unpacked by position: a send reads every due reader twice, and the attribute lookups showed."""
    return [SubscriberRecord(i, email, name, str(status), tuple(topics or ()), tuple(countries or ()), str(freq),
                             weekday, send_at, tz, max_items, str(fmt), paused, token_key or "")
            for i, email, name, status, topics, countries, freq, weekday, send_at, tz, max_items, fmt, paused, token_key
            in rows]


LEAD_CHARS = 800  # about the lede and the nut graf; a plain-text body is often one long paragraph


def lead_paragraph(body: str) -> str:
    """The first non-empty paragraph of a body (plain text or sanitized HTML), as text, at most LEAD_CHARS."""
    for part in re.split(r"\n\s*\n|</p\s*>|<br\s*/?>\s*<br\s*/?>", body or ""):
        text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", part)).split())
        if text:
            return text if len(text) <= LEAD_CHARS else text[:LEAD_CHARS].rsplit(" ", 1)[0]
    return ""
