"""The one clock: stages take `now` (or a `Clock`) as an argument; only the entry points call `now_utc`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

Clock = Callable[[], datetime]


def now_utc() -> datetime:
    """The current time, timezone-aware in UTC: what every entry point passes down as its clock."""
    return datetime.now(timezone.utc)
