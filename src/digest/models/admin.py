"""The operator's console: its accounts (`digest admin add-user`). A password is stored as its argon2 hash only;
the console's session cookies carry the hash's last characters, so a new password ends every older session.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from digest.models.types import utc_field


class AdminRole(StrEnum):
    """What an account may do, each role all the one before it may: a viewer looks, an editor steers the
    editions, an admin manages the readers and the console's accounts."""

    viewer = "viewer"
    editor = "editor"
    admin = "admin"


ADMIN_ROLES = tuple(AdminRole)  # lowest first: the order `may` compares


class AdminUser(SQLModel, table=True):
    # AUTOINCREMENT on SQLite: a removed account's id is never given to the next one (its cookies name the id)
    __table_args__ = {"sqlite_autoincrement": True}
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True, index=True)
    role: str  # an AdminRole (a plain string column: no enum type to migrate when a role is added)
    password_hash: str = Field(repr=False)
    created_at: datetime = utc_field()
    updated_at: datetime = utc_field()
    last_login_at: datetime | None = utc_field(nullable=True)
