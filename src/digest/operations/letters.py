"""The newsletters as a reader sees them: which one a one-click token names, and each configured newsletter
with the reader's subscription to it (joined or not, its own preferences) for the preference centre. Pure
helpers of `operations.reader`: settings and rows in, frozen dataclasses out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from digest.config import Settings
from digest.models import PREFERENCES, Subscriber, Subscription, SubscriptionStatus

PROBE_MONDAY = date(2026, 11, 30)  # a cron schedule is read over the four weeks from here
WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Leave:
    """The newsletter a one-click link names, for the reader it names: `joined` is the subscription's state."""
    sub: Subscriber
    key: str
    name: str
    joined: bool


@dataclass(frozen=True)
class Letter:
    """One configured newsletter in a reader's preference centre. `days`: the weekdays it sends on (() for a
    schedule that is not weekly, e.g. a cron line on days of the month); `own`: the subscription's own
    preferences (the keys set; missing: the reader's own value)."""
    key: str
    name: str
    description: str
    kind: str
    days: tuple[str, ...]
    joined: bool
    offers_weekly: bool
    topics: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    own: dict = field(default_factory=dict)


def newsletter_named(settings: Settings, extra: str) -> tuple[str, str]:
    """(key, name) of the newsletter a token's `extra` names: "" is the first (links made before newsletters
    existed); a key no longer configured is named by its key."""
    if not extra:
        first = settings.newsletter()
        return first.key, first.name
    for letter in settings.newsletters:
        if letter.key == extra:
            return letter.key, letter.name
    return extra, extra


def schedule_days(letter) -> tuple[str, ...]:
    """The weekdays a newsletter sends on, when its schedule is weekly in shape; () when it is not."""
    if letter.kind == "daily":
        return WEEK
    if letter.kind == "weekly":
        return (letter.weekday,)
    utc = ZoneInfo("UTC")
    fires = [letter.sends_on(PROBE_MONDAY + timedelta(days=n), utc) for n in range(28)]
    weeks = [tuple(fires[w * 7:(w + 1) * 7]) for w in range(4)]
    if any(week != weeks[0] for week in weeks):
        return ()
    return tuple(day for day, on in zip(WEEK, weeks[0]) if on)


def letters_of(settings: Settings, rows: Sequence[Subscription]) -> tuple[Letter, ...]:
    """Every configured newsletter, in the file's order, with the reader's subscription to it."""
    by_key = {row.newsletter: row for row in rows}
    found = []
    for n in settings.newsletters:
        row = by_key.get(n.key)
        own = {k: getattr(row, k) for k in PREFERENCES if row is not None and getattr(row, k) is not None}
        found.append(Letter(n.key, n.name, n.description, n.kind, schedule_days(n),
                            row is not None and row.status == SubscriptionStatus.active, n.offers_weekly,
                            tuple(n.topics), tuple(n.countries), own))
    return tuple(found)


def letter_named(letters: Sequence[Letter], key: str) -> Letter | None:
    return next((letter for letter in letters if letter.key == key), None)
