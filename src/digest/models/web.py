"""The web's tables: the double opt-in confirmation emails and the counted clicks.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from digest.models.types import utc_field
from digest.models.vocabulary import ConfirmationStatus


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
