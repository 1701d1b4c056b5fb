"""Send slots: which (time zone, local send time) slots of the subscribers are due now, on their own local date.

The daemon's tick (`digest.schedule`) and the workers' periodic task (`digest.workers`) both ask this.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from digest.config import Settings, parse_hhmm
from digest.config.newsletters import DEFAULT_KEY, Newsletter
from digest.models import WEEKDAYS


@dataclass(frozen=True, order=True)
class Slot:
    due_at: datetime
    day: date  # the subscribers' local date: the edition's date
    period: str
    timezone: str
    send_at: str
    newsletter: str = DEFAULT_KEY


def due_slots(slots: Iterable[tuple[str, str, str | None, str, str]], now: datetime, *, lookback: timedelta,
              settings: Settings) -> list[Slot]:
    """Slots (newsletter, frequency, weekday, time zone, send time) whose local send time fell in
    (now − lookback, now] on a day the newsletter's schedule has an edition, each (day, slot) exactly once.
    A daily newsletter follows each reader's frequency and weekday; a weekly or cron one its own days.
    Subscriptions to a newsletter no longer configured are left alone.

    A send time that does not exist on a spring-forward day maps to one instant (the offset before the
    change), and one that happens twice on a fall-back day to its first occurrence: never skipped, never
    doubled.
    """
    letters = {n.key: n for n in settings.newsletters}
    found: set[Slot] = set()
    for key, period, weekday, tz, send_at in slots:
        letter = letters.get(key)
        if letter is None:
            continue
        zone = ZoneInfo(tz)
        local_today = now.astimezone(zone).date()
        for day in (local_today - timedelta(days=1), local_today):
            if not _edition_day(letter, period, weekday, day, zone):
                continue
            due = datetime.combine(day, parse_hhmm(send_at), tzinfo=zone)
            if now - lookback < due <= now:
                rhythm = period if letter.offers_weekly else ("weekly" if letter.kind == "weekly" else "daily")
                found.add(Slot(due, day, rhythm, tz, send_at, key))
    return sorted(found)


def _edition_day(letter: Newsletter, period: str, weekday: str | None, day: date, zone: ZoneInfo) -> bool:
    if letter.offers_weekly and period == "weekly":
        return WEEKDAYS[day.weekday()] == weekday
    return letter.sends_on(day, zone)
