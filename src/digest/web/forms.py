"""The preference form: what it offers, what it accepts (validated like every other subscriber input), and its
CSRF token (an HMAC bound to the subscriber, so that no other site can submit it)."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from zoneinfo import available_timezones

from digest.ingest.subscribers import subscriber_from
from digest.models import WEEKDAYS, Subscriber
from digest.operations.reader import PreferenceError
from digest.web.context import WebContext

CSRF_PURPOSE = "preferences-form"


class FormError(PreferenceError):
    """A value the form cannot accept; the message names the field (`operations.reader.save_preferences`
    saves nothing then and shows the message)."""


@dataclass(frozen=True)
class Choices:
    topics: tuple[str, ...]
    countries: tuple[str, ...]
    timezones: tuple[str, ...]
    weekdays: tuple[str, ...] = WEEKDAYS


def choices(sub: Subscriber, topics: Sequence[str], countries: Sequence[str]) -> Choices:
    """What the store knows, plus whatever the subscriber already chose (so that it can be unticked)."""
    return Choices(tuple(sorted(set(topics) | set(sub.topics or ()), key=str.lower)),
                   tuple(sorted(set(countries) | set(sub.countries or ()), key=str.lower)),
                   timezones(sub.timezone))


def timezones(current: str) -> tuple[str, ...]:
    return tuple(sorted(set(_all_timezones()) | {current}))


@lru_cache(maxsize=1)
def _all_timezones() -> frozenset[str]:
    return frozenset(z for z in available_timezones() if "/" in z or z == "UTC")


def parse_preferences(form, *, email: str, offered: Choices, today: date) -> dict:
    """The new preference values from a submitted form; FormError names the first bad field."""
    values = {
        "email": email,
        "topics": [t for t in form.getlist("topics") if t in offered.topics],
        "countries": [c for c in form.getlist("countries") if c in offered.countries],
        **{key: str(form.get(key) or "").strip() for key in ("frequency", "weekday", "send_at", "timezone",
                                                             "max_items", "format")},
    }
    if values["timezone"] not in offered.timezones:  # e.g. "Europe", a directory of zones: refused here
        raise FormError(f"timezone: unknown time zone {values['timezone'][:60]!r}")
    try:
        parsed = subscriber_from(values, defaults={})
    except ValueError as exc:
        raise FormError(str(exc)) from None
    fields = ("topics", "countries", "frequency", "weekday", "send_at", "timezone", "max_items", "format")
    return {**{name: getattr(parsed, name) for name in fields},
            "paused_until": pause_date(str(form.get("paused_until") or ""), today)}


def pause_date(value: str, today: date) -> date | None:
    """An ISO date after today, or None (empty, or a day already here: not paused)."""
    if not value.strip():
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise FormError(f"paused_until: expected a date like 2027-01-31, got {value!r}") from None
    return day if day > today else None


def csrf_token(ctx: WebContext, subscriber_id: int) -> str:
    return ctx.token(CSRF_PURPOSE, subscriber_id)


def csrf_ok(ctx: WebContext, subscriber_id: int, submitted: object) -> bool:
    return isinstance(submitted, str) and hmac.compare_digest(submitted, csrf_token(ctx, subscriber_id))


def parse_letter_preferences(form, *, letter, topics: Sequence[str], countries: Sequence[str]) -> dict:
    """One subscription's own preferences from its form in the preference centre: topics and countries within
    the newsletter's scope, the format, and (a daily newsletter only) daily or weekly on a day. An empty
    choice is None: the reader's own value applies. FormError names the first bad field."""
    chosen_topics = [t for t in form.getlist("topics") if t in topics]
    chosen_countries = [c for c in form.getlist("countries") if c in countries]
    values: dict = {"topics": chosen_topics or None, "countries": chosen_countries or None,
                    "format": _one_of(form, "format", ("html", "text"))}
    if letter.offers_weekly:
        values["frequency"] = _one_of(form, "frequency", ("daily", "weekly"))
        values["weekday"] = _one_of(form, "weekday", WEEKDAYS) if values["frequency"] == "weekly" else None
        if values["frequency"] == "weekly" and values["weekday"] is None:
            raise FormError("weekday: choose the day of the weekly digest")
    return values


def _one_of(form, key: str, allowed: Sequence[str]) -> str | None:
    value = str(form.get(key) or "").strip()
    if value and value not in allowed:
        raise FormError(f"{key}: expected {' or '.join(allowed)}, got {value[:40]!r}")
    return value or None
