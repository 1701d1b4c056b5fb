"""Outbound webhooks: the endpoints an operator registered, the outbox of events (written in the transaction of
the change each reports), one delivery state per (endpoint, event), and a log row per HTTP attempt.

An endpoint's secret (`whsec_…`, Standard Webhooks) is kept here as given: signing needs it, so it cannot be
hashed; the store (a 0600 file, or the PostgreSQL database) is its one place, never config.toml.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from digest.models.types import json_list_field, utc_field

WEBHOOK_EVENTS = ("delivery.sent", "delivery.bounced", "delivery.failed", "subscriber.unsubscribed",
                  "subscriber.complained", "edition.done")
TEST_EVENT = "webhook.test"  # `digest webhooks test`: sent to one endpoint, whatever it subscribed to


class WebhookStatus(StrEnum):
    pending = "pending"  # waiting for its next attempt (next_attempt_at)
    delivered = "delivered"  # a 2xx answer
    failed = "failed"  # given up: its endpoint was disabled, or removed


class WebhookEndpoint(SQLModel, table=True):
    __table_args__ = {"sqlite_autoincrement": True}
    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(index=True)
    name: str = ""
    secret: str = Field(repr=False)  # "whsec_" + base64 of 24 random bytes
    events: list[str] = json_list_field()
    enabled: bool = True
    disabled_reason: str | None = None
    failing_since: datetime | None = utc_field(nullable=True)  # the first failure of the current run of them
    created_at: datetime = utc_field()


class WebhookEvent(SQLModel, table=True):
    __table_args__ = {"sqlite_autoincrement": True}
    id: int | None = Field(default=None, primary_key=True)  # "msg_<id>" is its webhook-id, the same on every retry
    type: str = Field(index=True)
    payload: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = utc_field()


class WebhookAttempt(SQLModel, table=True):
    """One event's delivery to one endpoint: pending until a 2xx answer, retried with backoff."""
    __table_args__ = (UniqueConstraint("endpoint_id", "event_id"), {"sqlite_autoincrement": True})
    id: int | None = Field(default=None, primary_key=True)
    endpoint_id: int = Field(foreign_key="webhookendpoint.id", index=True)
    event_id: int = Field(foreign_key="webhookevent.id", index=True)
    status: WebhookStatus = Field(default=WebhookStatus.pending, index=True)
    attempts: int = 0
    next_attempt_at: datetime = utc_field(index=True)
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = utc_field(nullable=True, index=True)  # `[webhooks] keep_days` later: pruned


class WebhookLog(SQLModel, table=True):
    """One HTTP attempt: what the endpoint answered (status code) or why there was no answer (error)."""
    __table_args__ = {"sqlite_autoincrement": True}
    id: int | None = Field(default=None, primary_key=True)
    attempt_id: int = Field(foreign_key="webhookattempt.id", index=True)
    endpoint_id: int = Field(index=True)
    at: datetime = utc_field()
    status_code: int | None = None
    error: str | None = None
    duration_ms: int = 0
