"""Column types: every time is timezone-aware UTC in Python; `UTCDateTime` stores it naive-UTC so SQLite and
PostgreSQL hold the same thing and nothing reads back naive.
"""

from __future__ import annotations

from datetime import timezone

from sqlalchemy import JSON, Column
from sqlalchemy.types import DateTime, TypeDecorator
from sqlmodel import Field


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
