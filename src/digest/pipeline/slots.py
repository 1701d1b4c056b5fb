"""Send slots: which (time zone, local send time) slots of the subscribers are due now, on their own local date.

The daemon's tick (`digest.schedule`) and the workers' periodic task (`digest.workers`) both ask this.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from digest.config import parse_hhmm
from digest.models import WEEKDAYS


@dataclass(frozen=True, order=True)
class Slot:
    due_at: datetime
    day: date  # the subscribers' local date: the edition's date
    period: str
    timezone: str
    send_at: str


def due_slots(slots: Iterable[tuple[str, str | None, str, str]], now: datetime, *, lookback: timedelta
              ) -> list[Slot]:
    """Slots whose local send time fell in (now − lookback, now], each (day, slot) exactly once.

    A send time that does not exist on a spring-forward day maps to one instant (the offset before the
    change), and one that happens twice on a fall-back day to its first occurrence: never skipped, never
    doubled.
    """
    found: set[Slot] = set()
    for period, weekday, tz, send_at in slots:
        zone = ZoneInfo(tz)
        local_today = now.astimezone(zone).date()
        for day in (local_today - timedelta(days=1), local_today):
            if period == "weekly" and WEEKDAYS[day.weekday()] != weekday:
                continue
            due = datetime.combine(day, parse_hhmm(send_at), tzinfo=zone)
            if now - lookback < due <= now:
                found.add(Slot(due, day, period, tz, send_at))
    return sorted(found)
