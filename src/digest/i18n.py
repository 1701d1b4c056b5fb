"""Languages of the emails and the reader pages: the gettext catalogues in `digest/locale/<lang>/LC_MESSAGES/
digest.po` (compiled in memory on first use, so there is no build step and no .mo to go stale), the text
direction, and the dates and numbers as each language writes them. docs/languages.md adds a language.

English keeps the house style it always had ("Thursday 9 February 2017", "Thu 9 Feb", "9 Feb 07:00 UTC");
every other language uses its CLDR forms ("Donnerstag, 9. Februar 2017", "jeudi 9 février 2017")."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_skeleton, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

from digest.config import LANGUAGES
from digest.errors import ConfigError

__all__ = ["LANGUAGES", "LOCALE_DIR", "N_", "catalogue_path", "edition_label", "format_number", "meta_time",
           "short_label", "text_direction", "translations"]

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "digest"
ENGLISH = {"label": "EEEE d MMMM y", "short": "EEE d MMM", "meta": "d MMM"}  # the house style, as ever


def N_(message: str) -> str:
    """Marks `message` for extraction (pybabel finds `N_("...")`); it is translated where it is shown."""
    return message


def catalogue_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=None)
def translations(language: str) -> Translations:
    """The catalogue of `language`, compiled in memory once per process (it never changes while running)."""
    if language not in LANGUAGES:
        raise ConfigError(f"[sender] language: must be one of {', '.join(LANGUAGES)}, got {language!r}")
    path = catalogue_path(language)
    try:
        with path.open("rb") as po:
            catalog = read_po(po, locale=language, domain=DOMAIN)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the catalogue: {exc}") from None
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def text_direction(language: str) -> str:
    """"rtl" for right-to-left scripts (Arabic, Hebrew, Persian, Urdu, ...), else "ltr"."""
    return "rtl" if Locale.parse(language).text_direction == "rtl" else "ltr"


def edition_label(day: date, language: str) -> str:
    """The edition's date in the masthead: "Thursday 9 February 2017", "Donnerstag, 9. Februar 2017"."""
    if language == "en":
        return format_date(day, ENGLISH["label"], locale="en")
    return format_date(day, format="full", locale=language)


def short_label(day: date, language: str) -> str:
    """The edition's date in the subject: "Thu 9 Feb", "Do., 9. Feb.", "jeu. 9 févr."."""
    if language == "en":
        return format_date(day, ENGLISH["short"], locale="en")
    return format_skeleton("MMMEd", day, locale=language)


def meta_time(local: datetime, language: str) -> str:
    """An item's publication time, already in the reader's zone: "9 Feb 07:00 UTC", "9. Feb. 07:00 UTC"."""
    if language == "en":
        when = f"{format_date(local.date(), ENGLISH['meta'], locale='en')} {local:%H:%M}"
    else:
        clock = format_time(local, "short", tzinfo=local.tzinfo, locale=language)
        when = f"{format_skeleton('MMMd', local.date(), locale=language)} {clock}"
    return f"{when} {local.tzname()}" if local.tzname() else when


def format_number(number: float, language: str) -> str:
    """A number as `language` writes it: 1,234.5 (en), 1.234,5 (de), 1 234,5 (fr)."""
    return format_decimal(number, locale=language)
