"""The send path's tables: editions, their deliveries and delivery items, and the relays' shared send rate.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from digest.models.types import utc_field
from digest.models.vocabulary import DeliveryStatus, EditionStatus, Frequency


class Edition(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True)  # "morning:2026-11-27", "morning:weekly:2026-11-27"
    newsletter: str = Field(index=True)  # its [[newsletters]] key
    period: Frequency
    date: str  # ISO date of the edition in the configured time zone
    cutoff_at: datetime = utc_field()  # articles published before this, ranked as of this
    status: EditionStatus = EditionStatus.planned
    created_at: datetime = utc_field()
    started_at: datetime | None = utc_field(nullable=True)
    finished_at: datetime | None = utc_field(nullable=True)
    deadline_at: datetime | None = utc_field(nullable=True)  # past it, what is left becomes `expired`
    # NULL, or why nothing of it is sent now: "awaiting_approval" ([send] approval = "required", not yet
    # approved: nothing planned) or "paused" (an operator's pause: what is left stays queued until resumed)
    held: str | None = None


class Delivery(SQLModel, table=True):
    # AUTOINCREMENT on SQLite: a VERP bounce token names a delivery id, which must never name another one
    # revision 0009: an edition's deliveries per status (and its oldest pending), and per content variant, each
    # read from an index alone (the console's pages and `digest status` at a million deliveries). The variant is
    # in an index of its own, without the status: a status change never moves its entry (the send path's cost)
    __table_args__ = (UniqueConstraint("edition_id", "subscriber_id"),
                      Index("ix_delivery_edition_status", "edition_id", "status", "created_at"),
                      Index("ix_delivery_edition_variant", "edition_id", "variant_key"),
                      {"sqlite_autoincrement": True})
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

    # no index of its own on delivery_id: the unique index's prefix serves its lookups (revision 0005); none on
    # article_id or story_key either: no query reads by them, and each cost planning's inserts (revision 0013)
    __table_args__ = (UniqueConstraint("delivery_id", "article_id"),)
    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="delivery.id")
    article_id: int = Field(foreign_key="article.id")
    story_key: str = Field(default="")
    section: str  # "top" | "trending"
    position: int
    score: float = 0.0
    why: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
