"""Subscribers from the command line or a CSV file, validated field by field."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email

from digest.config import parse_hhmm
from digest.errors import InputError
from digest.ingest.normalize import clean_text, split_list
from digest.ingest.tabular import read_rows, rejected_message
from digest.models import WEEKDAYS, Format, Frequency, Subscriber

COLUMNS = ("email", "name", "topics", "countries", "frequency", "weekday", "send_at", "timezone", "max_items",
           "format")
FILE_COLUMNS = COLUMNS + ("newsletters",)  # a CSV may also say which newsletters ("morning;woche")
WEEKDAY_NAMES = {name: short for short in WEEKDAYS for name in (short, {
    "mon": "monday", "tue": "tuesday", "wed": "wednesday", "thu": "thursday", "fri": "friday", "sat": "saturday",
    "sun": "sunday"}[short])}


# The common case, a plain dot-atom local part (RFC 5322), needs email-validator for its domain only, and a list
# has few domains: they are validated once each. Anything else (quoted, odd or long) takes the whole validator.
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


def normalize_email(value: str) -> str:
    """The one form of an address every lookup compares: valid syntax (email-validator), an IDN domain in its
    ASCII (IDNA) form, no SMTPUTF8 local part, all lower case. ValueError names the field."""
    address = (value or "").strip()
    local, at, domain = address.rpartition("@")
    if at and len(local) <= 64 and _DOT_ATOM.fullmatch(local):
        ascii_domain = _domain(domain)
        if ascii_domain is not None and len(local) + 1 + len(ascii_domain) <= 254:
            return f"{local}@{ascii_domain}".lower()
    return _validated(address, value)


@functools.lru_cache(maxsize=4096)
def _domain(domain: str) -> str | None:
    """The ASCII form of a valid domain (as email-validator sees it), None when it is not one."""
    try:
        return validate_email(f"postmaster@{domain}", check_deliverability=False, allow_smtputf8=False
                              ).ascii_domain
    except EmailNotValidError:
        return None


def _validated(address: str, value: str) -> str:
    try:
        valid = validate_email(address, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValueError(f"email: not a valid address: {value!r} ({exc})") from None
    return valid.ascii_email.lower()


@dataclass(frozen=True, slots=True)
class SubscriberRow:
    """A validated subscriber as plain data (building 100,000 ORM objects would cost most of an import)."""

    email: str
    name: str
    topics: list[str]
    countries: list[str]
    frequency: str
    weekday: str | None
    send_at: str
    timezone: str
    max_items: int
    format: str
    status: str = "active"
    line: int = 0  # where it came from in its file (0: not from a file)
    newsletters: tuple[str, ...] = ()  # keys; empty: the first newsletter


def subscriber_from(values: Mapping[str, object], *, defaults: Mapping[str, object]) -> Subscriber:
    """A validated Subscriber; ValueError names the field."""
    row = subscriber_row(values, defaults=defaults)
    return Subscriber(**{f: getattr(row, f) for f in COLUMNS})


def subscriber_row(values: Mapping[str, object], *, defaults: Mapping[str, object]) -> SubscriberRow:
    """The validated fields of one subscriber; ValueError names the field."""
    def get(key: str) -> object:
        value = values.get(key)
        return defaults.get(key) if value in (None, "") else value

    frequency = str(get("frequency") or "daily").strip().lower()
    if frequency not in Frequency.__members__:
        raise ValueError(f"frequency: expected daily or weekly, got {frequency!r}")
    weekday = _weekday(get("weekday"), frequency)
    fmt = str(get("format") or "html").strip().lower()
    if fmt not in Format.__members__:
        raise ValueError(f"format: expected html or text, got {fmt!r}")
    return SubscriberRow(
        email=normalize_email(str(values.get("email") or "")), name=clean_text(values.get("name")),
        topics=split_list(values.get("topics")), countries=split_list(values.get("countries"), lower=False),
        frequency=frequency, weekday=weekday, send_at=_send_at(get("send_at")), timezone=_timezone(get("timezone")),
        max_items=_max_items(get("max_items")), format=fmt,
    )


def _weekday(value: object, frequency: str) -> str | None:
    if frequency == "daily":
        return None
    key = str(value or "").strip().lower()
    if key not in WEEKDAY_NAMES:
        raise ValueError(f"weekday: weekly subscribers need a weekday (mon..sun), got {value!r}")
    return WEEKDAY_NAMES[key]


def _send_at(value: object) -> str:
    try:
        return parse_hhmm(str(value or "07:00")).strftime("%H:%M")
    except ValueError as exc:
        raise ValueError(f"send_at: {exc}") from None


def _timezone(value: object) -> str:
    name = str(value or "UTC").strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" is a directory of tzdata
        raise ValueError(f"timezone: unknown time zone {name!r}") from None
    return name


def _max_items(value: object) -> int:
    try:
        number = int(str(10 if value is None else value).strip())
    except ValueError:
        raise ValueError(f"max_items: expected a whole number, got {value!r}") from None
    if not 1 <= number <= 50:
        raise ValueError(f"max_items: must be between 1 and 50, got {number}")
    return number


def load_subscribers(path: Path, *, defaults: Mapping[str, object], newsletters: Sequence[str] | None = None
                     ) -> list[SubscriberRow]:
    """Every row of a CSV with an `email` column, or InputError naming each rejected line. A `newsletters`
    column lists keys separated by ";" (checked against `newsletters`, the configured keys, when given)."""
    subscribers, errors, seen = [], [], {}
    for line, row in read_rows(path, "csv"):
        if "email" not in row:
            raise InputError(f"{path}:1: no 'email' column in the header")
        unknown = sorted(set(row) - set(FILE_COLUMNS))
        if unknown:
            raise InputError(f"{path}:1: unknown column {unknown[0]!r} (columns: {', '.join(FILE_COLUMNS)})")
        try:
            sub = replace(subscriber_row(row, defaults=defaults),
                          newsletters=newsletter_keys(row.get("newsletters"), newsletters))
        except ValueError as exc:
            errors.append(f"{path}:{line}: {exc}")
            continue
        if sub.email in seen:
            errors.append(f"{path}:{line}: email: {sub.email} already on line {seen[sub.email]}")
            continue
        seen[sub.email] = line
        subscribers.append(replace(sub, line=line))
    if errors:
        raise InputError(rejected_message(errors))
    return subscribers


def newsletter_keys(value: object, known: Sequence[str] | None) -> tuple[str, ...]:
    """`morning;woche` as keys; ValueError naming the field for a key that is not configured."""
    keys = tuple(dict.fromkeys(k.lower() for k in split_list(value)))
    wrong = [k for k in keys if known is not None and k not in known]
    if wrong:
        raise ValueError(f"newsletters: unknown newsletter {wrong[0]!r} (configured: {', '.join(known)})")
    return keys


def unknown_topic_warnings(source: str, rows: Sequence[SubscriberRow], known: Iterable[str]) -> list[str]:
    """One warning per row that follows a topic no stored article has (a typo would filter out every story)."""
    known_set = {t.lower() for t in known}
    warnings = []
    for row in rows:
        unknown = [t for t in row.topics if t.lower() not in known_set]
        if unknown:
            where = f"{source}:{row.line}" if row.line else source
            warnings.append(f"warning: {where}: {row.email}: unknown topic{'s' if len(unknown) > 1 else ''} "
                            f"{', '.join(map(repr, unknown))} (no stored article has it)")
    return warnings


def parse_emails(text: str) -> list[str]:
    return [normalize_email(e) for e in re.split(r"[\s,;]+", text) if e]
