"""The REST API's own tables: its keys (`digest api-keys`), the stored answers of idempotent POSTs, and the
import jobs (`POST /api/v1/imports`).

A key is stored as the SHA-256 of the key only. That is enough for a key made of 32 random bytes
(`secrets.token_urlsafe(32)`): nobody can guess such a key from its hash, so the slow, salted hashes made for
passwords people choose (argon2, as the console's accounts use) would only cost time on every request.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from digest.models.types import utc_field

API_SCOPES = ("subscribers:read", "subscribers:write", "subscribers:confirmed", "events:write", "editions:read",
              "deliveries:read")
IMPORT_STATUSES = ("queued", "running", "done", "failed")


class ApiKey(SQLModel, table=True):
    __tablename__ = "apikey"
    __table_args__ = {"sqlite_autoincrement": True}
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True)
    key_hash: str = Field(unique=True, index=True, repr=False)  # hex SHA-256 of the key
    scopes: str = ""  # comma-separated, each one of API_SCOPES
    created_at: datetime = utc_field()
    last_used_at: datetime | None = utc_field(nullable=True)
    revoked_at: datetime | None = utc_field(nullable=True)


class ApiRequest(SQLModel, table=True):
    """The answer given to a POST that carried an `Idempotency-Key`: replayed for the same key and body."""

    __tablename__ = "apirequest"
    __table_args__ = (UniqueConstraint("api_key_id", "key_hash"),)
    id: int | None = Field(default=None, primary_key=True)
    api_key_id: int = Field(index=True)
    key_hash: str  # hex SHA-256 of the Idempotency-Key header
    request_hash: str  # hex SHA-256 of the method, path and body
    status_code: int
    body: str  # the JSON answered
    created_at: datetime = utc_field()


class ApiImport(SQLModel, table=True):
    """One CSV import sent to the API, run in the background: queued, running, done or failed."""

    __tablename__ = "apiimport"
    __table_args__ = {"sqlite_autoincrement": True}
    id: int | None = Field(default=None, primary_key=True)
    api_key_id: int = Field(index=True)
    status: str = "queued"  # one of IMPORT_STATUSES
    total: int | None = None
    counts: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    error: str | None = None
    created_at: datetime = utc_field()
    updated_at: datetime = utc_field()
