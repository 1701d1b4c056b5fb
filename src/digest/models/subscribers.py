"""The readers' tables: subscribers (with the random identity their tokens are bound to) and the suppression
records kept by the hash of an address.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import date, datetime

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from digest.models.types import json_list_field, utc_field
from digest.models.vocabulary import Format, Frequency, SubscriberStatus, SubscriptionStatus, SuppressionReason


def new_token_key() -> str:
    """A subscriber's random identity, mixed into every token made for them: never handed out twice."""
    return secrets.token_urlsafe(16)


def address_hash(email: str) -> str:
    """The key of a suppression record: SHA-256 of the normalised (lower-case ASCII) address."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()




class Subscriber(SQLModel, table=True):
    # AUTOINCREMENT on SQLite: a removed or erased subscriber's id is never given to a newcomer
    # revision 0009: the readers who changed status lately (the console's charts: complaints per edition)
    __table_args__ = (Index("ix_subscriber_status_updated", "status", "updated_at"), {"sqlite_autoincrement": True})
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




class Subscription(SQLModel, table=True):
    """A reader's subscription to one newsletter (`[[newsletters]] key`): its own status, and preferences that
    override the reader's own where set (NULL: the reader's value)."""

    # revision 0009: a newsletter's list size, now and on each day of the console's charts, from indexes alone
    __table_args__ = (UniqueConstraint("subscriber_id", "newsletter"),
                      Index("ix_subscription_newsletter_status", "newsletter", "status", "updated_at"),
                      Index("ix_subscription_newsletter_created", "newsletter", "created_at"))
    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True)
    newsletter: str = Field(index=True)
    status: SubscriptionStatus = SubscriptionStatus.active
    frequency: Frequency | None = None
    weekday: str | None = None
    send_at: str | None = None
    topics: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    countries: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    max_items: int | None = None
    format: Format | None = None
    created_at: datetime = utc_field()
    updated_at: datetime = utc_field()
    source: str | None = None  # how it began: "import", "web:/subscribe", "migration 0006", ...


PREFERENCES = ("frequency", "weekday", "send_at", "topics", "countries", "max_items", "format")  # a subscription's


class Suppression(SQLModel, table=True):
    """An address that must not be mailed again without a new consent, by the hash of its normalised form.

    Written by `subscribers remove` and `subscribers erase`; an import or `subscribers add` of the address
    leaves it suppressed unless the operator passes `--resubscribe` with a consent source.
    """

    email_hash: str = Field(primary_key=True)  # models.address_hash(normalised address)
    reason: SuppressionReason
    created_at: datetime = utc_field()
    updated_at: datetime = utc_field()
