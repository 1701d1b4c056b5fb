"""Tables and status vocabularies. No queries here: those live in `store`.

Every time is timezone-aware UTC in Python; `UTCDateTime` stores it naive-UTC so SQLite and PostgreSQL
hold the same thing and nothing reads back naive.
"""

from __future__ import annotations

import hashlib
import html
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timezone
from enum import StrEnum

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlalchemy.types import DateTime, TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out; naive values are refused."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware datetime")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=timezone.utc)


def utc_field(*, nullable: bool = False, index: bool = False, **kw):
    return Field(sa_column=Column(UTCDateTime(), nullable=nullable, index=index), **kw)


def json_list_field():
    return Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class EventKind(StrEnum):
    view = "view"
    click = "click"
    share = "share"
    comment = "comment"


class SubscriberStatus(StrEnum):
    active = "active"
    pending = "pending"
    unsubscribed = "unsubscribed"
    bounced = "bounced"
    complained = "complained"
    removed = "removed"  # `subscribers remove`: the row stays (its history keeps "never twice"), never mailed


# The statuses a reader is never mailed in, and that only an explicit `--resubscribe` (or their own double
# opt-in) lifts: an import or `subscribers add` leaves them as they are.
SUPPRESSED = (SubscriberStatus.unsubscribed, SubscriberStatus.bounced, SubscriberStatus.complained,
              SubscriberStatus.removed)


class Frequency(StrEnum):
    daily = "daily"
    weekly = "weekly"


class Format(StrEnum):
    html = "html"
    text = "text"


class EditionStatus(StrEnum):
    planned = "planned"
    sending = "sending"
    done = "done"


class DeliveryStatus(StrEnum):
    """The delivery state machine (README: "What happens to every message").

        (planned) ─▶ queued ─▶ sending ─▶ sent | deferred | failed | bounced | unknown
        (planned) ─▶ skipped           queued ─▶ skipped (unsubscribed at send time)
        deferred ─▶ sending (retry when due)   queued | deferred ─▶ expired (deadline passed)
        unknown ─▶ queued (only `digest send --retry-unknown`, an operator's decision)
        sent | unknown ─▶ bounced (a bounce report arrived later: `digest bounces import`)
        sending ─▶ queued | deferred (as before the claim: the message never left, or the circuit breaker held it)
        failed | bounced ─▶ queued (the circuit breaker's storm, or `digest deliveries requeue`: the operator's)
        unknown ─▶ queued (also `digest deliveries requeue --status unknown`, the operator's decision)
    """

    queued = "queued"
    sending = "sending"
    sent = "sent"
    deferred = "deferred"
    failed = "failed"
    bounced = "bounced"
    unknown = "unknown"
    skipped = "skipped"
    expired = "expired"


TRANSITIONS: dict[str, frozenset[str]] = {
    "queued": frozenset({"sending", "skipped", "expired", "failed"}),  # failed: no message can be built
    "sending": frozenset({"sent", "deferred", "failed", "bounced", "unknown", "queued"}),  # queued: never left
    "deferred": frozenset({"sending", "expired"}),
    "unknown": frozenset({"queued", "bounced"}),  # a bounce report shows it was accepted, then bounced
    "sent": frozenset({"bounced"}),  # an asynchronous bounce report (`digest bounces import`)
    "failed": frozenset({"queued"}), "bounced": frozenset({"queued"}),  # the breaker, or the operator's requeue
    "skipped": frozenset(),
    "expired": frozenset(),
}

# A delivery in one of these may have reached (or may yet reach) the reader: its articles count as sent.
CARRIED = (DeliveryStatus.queued, DeliveryStatus.sending, DeliveryStatus.sent,
           DeliveryStatus.unknown, DeliveryStatus.deferred)
FINAL_OK = (DeliveryStatus.sent, DeliveryStatus.skipped)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


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
    # (hour, article_id, kind, count) covers the edition's aggregation: it never reads the table itself
    __table_args__ = (UniqueConstraint("article_id", "hour", "kind"),
                      Index("ix_engagement_signals", "hour", "article_id", "kind", "count"))
    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="article.id", index=True)
    hour: datetime = utc_field(index=True)
    kind: EventKind
    count: int = 0


def new_token_key() -> str:
    """A subscriber's random identity, mixed into every token made for them: never handed out twice."""
    return secrets.token_urlsafe(16)


def address_hash(email: str) -> str:
    """The key of a suppression record: SHA-256 of the normalised (lower-case ASCII) address."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


class Subscriber(SQLModel, table=True):
    # AUTOINCREMENT on SQLite: a removed or erased subscriber's id is never given to a newcomer
    __table_args__ = {"sqlite_autoincrement": True}
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True, index=True)
    name: str = ""
    status: SubscriberStatus = SubscriberStatus.active
    topics: list[str] = json_list_field()
    countries: list[str] = json_list_field()
    frequency: Frequency = Frequency.daily
    weekday: str | None = None  # mon..sun, weekly subscribers only
    send_at: str = "07:00"
    timezone: str = "UTC"
    max_items: int = 10
    format: Format = Format.html
    created_at: datetime = utc_field()
    updated_at: datetime = utc_field()
    consent_at: datetime | None = utc_field(nullable=True)  # when a web sign-up was confirmed (double opt-in)
    consent_source: str | None = None  # where that sign-up came from, e.g. "web:/subscribe homepage"
    paused_until: date | None = None  # no editions dated before this day
    # mixed into the MAC of every link and VERP token made for this subscriber (digest.tokens); NULL on a
    # PostgreSQL store made before revision 0003 (sequence ids were never reused: the old links stay valid)
    token_key: str | None = Field(default_factory=new_token_key, nullable=True,
                                  sa_column_kwargs={"default": new_token_key})  # Core inserts too


class Edition(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True)  # "daily:2026-11-27", "weekly:2026-11-27"
    period: Frequency
    date: str  # ISO date of the edition in the configured time zone
    cutoff_at: datetime = utc_field()  # articles published before this, ranked as of this
    status: EditionStatus = EditionStatus.planned
    created_at: datetime = utc_field()
    started_at: datetime | None = utc_field(nullable=True)
    finished_at: datetime | None = utc_field(nullable=True)
    deadline_at: datetime | None = utc_field(nullable=True)  # past it, what is left becomes `expired`


class Delivery(SQLModel, table=True):
    # AUTOINCREMENT on SQLite: a VERP bounce token names a delivery id, which must never name another one
    __table_args__ = (UniqueConstraint("edition_id", "subscriber_id"), {"sqlite_autoincrement": True})
    id: int | None = Field(default=None, primary_key=True)
    edition_id: int = Field(foreign_key="edition.id", index=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True)
    status: DeliveryStatus = Field(default=DeliveryStatus.queued, index=True)
    attempts: int = 0
    smtp_code: int | None = None
    smtp_reply: str | None = None
    message_id: str | None = None
    variant_key: str | None = None
    error: str | None = None
    created_at: datetime = utc_field()
    updated_at: datetime = utc_field()
    sent_at: datetime | None = utc_field(nullable=True)
    next_attempt_at: datetime | None = utc_field(nullable=True)
    claimed_by: str | None = None  # who claimed it for sending: NULL = the embedded sender, "job:N" = a worker's job


class RateLimit(SQLModel, table=True):
    """A relay's send rate shared by every worker (PostgreSQL): the next free slot, in the database's clock."""

    name: str = Field(primary_key=True)
    rate: float  # messages per second now (halved on 421/4.7.x, recovering towards `target`)
    target: float  # the configured rate
    next_slot: float = 0.0  # epoch seconds at which the next reservation may start


class DeliveryItem(SQLModel, table=True):
    """One article carried by one delivery, with why it was chosen."""

    __table_args__ = (UniqueConstraint("delivery_id", "article_id"),)
    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="delivery.id", index=True)
    article_id: int = Field(foreign_key="article.id", index=True)
    story_key: str = Field(default="", index=True)
    section: str  # "top" | "trending"
    position: int
    score: float = 0.0
    why: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


# Plain records passed between the pure stages: nothing renders from lazy ORM objects.


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


LEAD_CHARS = 800  # about the lede and the nut graf; a plain-text body is often one long paragraph


def lead_paragraph(body: str) -> str:
    """The first non-empty paragraph of a body (plain text or sanitized HTML), as text, at most LEAD_CHARS."""
    for part in re.split(r"\n\s*\n|</p\s*>|<br\s*/?>\s*<br\s*/?>", body or ""):
        text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", part)).split())
        if text:
            return text if len(text) <= LEAD_CHARS else text[:LEAD_CHARS].rsplit(" ", 1)[0]
    return ""


class StoryAssignment(SQLModel, table=True):
    """Which story an article belongs to: written when an edition is planned, so a story keeps its key."""

    article_id: int = Field(foreign_key="article.id", primary_key=True)
    story_key: str = Field(index=True)
    assigned_at: datetime = utc_field()


class FeedStatus(StrEnum):
    new = "new"  # registered, not fetched yet
    ok = "ok"  # fetched and parsed (some items may have been rejected: see `last_result`)
    not_modified = "not_modified"  # 304: nothing new since the last fetch
    error = "error"  # the fetch or the parse failed: see `last_error`


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


class SuppressionReason(StrEnum):
    unsubscribed = "unsubscribed"
    bounced = "bounced"
    complained = "complained"
    removed = "removed"  # `subscribers remove`: the subscriber row and its history stay too
    erased = "erased"  # `subscribers erase`: this record is all that is left of the address


class Suppression(SQLModel, table=True):
    """An address that must not be mailed again without a new consent, by the hash of its normalised form.

    Written by `subscribers remove` and `subscribers erase`; an import or `subscribers add` of the address
    leaves it suppressed unless the operator passes `--resubscribe` with a consent source.
    """

    email_hash: str = Field(primary_key=True)  # models.address_hash(normalised address)
    reason: SuppressionReason
    created_at: datetime = utc_field()
    updated_at: datetime = utc_field()


class ConfirmationStatus(StrEnum):
    """A double opt-in email's row, written `queued` before the send (like every delivery):
    queued ─▶ sending ─▶ sent | failed, and sending ─▶ queued on a temporary failure (retried by the sweep)."""

    queued = "queued"
    sending = "sending"
    sent = "sent"
    failed = "failed"


class Confirmation(SQLModel, table=True):
    """One confirmation email of a web sign-up. At most one per address per window; the link it carries
    names `issued_at` (in its token) and expires after `[web] confirm_link_days`."""

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(index=True)  # no foreign key: removing a subscriber keeps this trace
    email: str = Field(index=True)
    status: ConfirmationStatus = Field(default=ConfirmationStatus.queued, index=True)
    attempts: int = 0
    smtp_code: int | None = None
    smtp_reply: str | None = None
    message_id: str | None = None
    created_at: datetime = utc_field(index=True)  # also the issue time carried by the link
    updated_at: datetime = utc_field()
    sent_at: datetime | None = utc_field(nullable=True)


class CountedClick(SQLModel, table=True):
    """A click that was counted: one per (delivery, article), so replays and scanners' prefetches count once."""

    __table_args__ = (UniqueConstraint("delivery_id", "article_id"),)
    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(index=True)  # no foreign key: pruning an edition's deliveries keeps the counts
    article_id: int
    clicked_at: datetime = utc_field()
