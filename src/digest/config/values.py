"""The formats of single values the settings share: email addresses, HH:MM times, the shipped languages."""

from __future__ import annotations

import re
from datetime import time

LANGUAGES = ("en", "de", "fr")  # the languages with a catalogue in digest/locale (see docs/languages.md)
EMAIL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")  # ASCII: SMTP without SMTPUTF8


def parse_hhmm(value: str) -> time:
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", value.strip())
    if not match:
        raise ValueError(f"expected HH:MM, got {value!r}")
    return time(int(match[1]), int(match[2]))
