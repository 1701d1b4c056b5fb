"""Engagement events from CSV or JSON Lines: url (or article_id), kind, count, at."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from digest.errors import InputError
from digest.ingest.normalize import canonical_url, parse_time
from digest.ingest.tabular import read_rows, rejected_message
from digest.models import EventKind


@dataclass(frozen=True, slots=True)
class EventRow:
    line: int
    url: str | None
    article_id: int | None
    kind: str
    count: int
    at: datetime


def load_events(path: Path) -> list[EventRow]:
    return parse_events(read_rows(path), str(path))


def parse_events(rows: Iterable[tuple[int, Mapping]], where: str) -> list[EventRow]:
    """Validated events from (line, row) pairs (a file, or the body of `POST /events`); InputError names
    every bad line."""
    events, errors = [], []
    for line, row in rows:
        try:
            events.append(_event(line, row))
        except ValueError as exc:
            errors.append(f"{where}:{line}: {exc}")
    if errors:
        raise InputError(rejected_message(errors))
    return events


MAX_COUNT = 10_000_000  # one event row; more is a broken exporter, not an audience
MAX_ID = 2**31 - 1  # the store's ids are 32-bit integers (PostgreSQL refuses a bigger one in a query)


def _whole(value) -> int:
    """A whole number from an int, a string or an integral float (JSON's 12.0); inf and nan are refused."""
    if isinstance(value, bool):  # JSON true is not the number 1
        raise ValueError(value)
    if isinstance(value, float):
        if not value.is_integer():  # also nan and inf
            raise ValueError(value)
        return int(value)
    return int(value)


def _event(line: int, row) -> EventRow:
    url = row.get("url") or None
    article_id = row.get("article_id") or None
    if not url and not article_id:
        raise ValueError("url or article_id: missing")
    kind = str(row.get("kind") or "").strip().lower()
    if kind not in EventKind.__members__:
        raise ValueError(f"kind: expected one of {', '.join(EventKind.__members__)}, got {kind!r}")
    count = row.get("count")
    try:
        count = 1 if count is None or count == "" else _whole(count)  # a count of 0 is 0, not the default 1
        article_id = _whole(article_id) if article_id else None
    except (TypeError, ValueError, OverflowError):
        raise ValueError("count and article_id must be whole numbers") from None
    if not 0 <= count <= MAX_COUNT:
        raise ValueError(f"count: must be between 0 and {MAX_COUNT:,}, got {count:.3g}")
    if article_id is not None and not 0 < article_id <= MAX_ID:
        raise ValueError(f"article_id: must be between 1 and {MAX_ID:,}, got {article_id:.3g}")
    try:
        at = parse_time(row.get("at"))
    except ValueError as exc:
        raise ValueError(f"at: {exc}") from None
    return EventRow(line, canonical_url(str(url)) if url else None, article_id, kind, count, at)
