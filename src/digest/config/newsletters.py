"""Newsletters: the `[[newsletters]]` tables of `config.toml`, read and checked.

An install without `[[newsletters]]` is one newsletter built from `[sender]` and `[schedule]` (key
`DEFAULT_KEY`), as before newsletters existed. Each newsletter has its own From, List-Id, name, schedule,
send time, language and scope (topics, countries); its editions are keyed `KEY:DATE` (and, for a daily
newsletter, `KEY:weekly:DATE` for the readers who chose a weekly digest).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from digest.config.values import EMAIL_RE, LANGUAGES, parse_hhmm
from digest.errors import ConfigError

if TYPE_CHECKING:  # the [sender] section a newsletter's messages start from
    from digest.config.sections import SenderSettings

DEFAULT_KEY = "digest"  # the newsletter of an install without [[newsletters]]
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")  # no "-" or ":": edition keys and URL slugs are built from it
COLOR_RE = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass(frozen=True)
class Newsletter:
    key: str
    name: str
    list_id: str
    from_name: str
    from_address: str
    reply_to: str = ""
    schedule: str = "daily"  # "daily" | "weekly:thu" | "cron:0 7 * * 1-5" (the days it fires on)
    send_at: str = "07:00"  # its readers' default local send time
    language: str = "en"
    public_archive: bool = False
    weekly_name: str = ""  # a daily newsletter's weekly digest (its readers may choose it)
    description: str = ""
    topics: tuple[str, ...] = ()  # its scope: readers choose within it (empty: every topic)
    countries: tuple[str, ...] = ()
    max_items: int = 0  # 0: the reader's (or [selection]'s) own
    logo_url: str = ""
    accent_color: str = ""

    @property
    def kind(self) -> str:
        """daily | weekly | cron."""
        return self.schedule.split(":", 1)[0]

    @property
    def weekday(self) -> str | None:
        return self.schedule.split(":", 1)[1] if self.kind == "weekly" else None

    @property
    def offers_weekly(self) -> bool:
        """A daily newsletter lets each reader choose daily or a weekly digest; the others have one rhythm."""
        return self.kind == "daily"

    def sends_on(self, day: date, tz: ZoneInfo) -> bool:
        """Whether the schedule has an edition on `day` (a daily one: every day)."""
        if self.kind == "weekly":
            return WEEKDAY_NAMES[day.weekday()] == self.weekday
        if self.kind == "cron":
            start = datetime.combine(day, time(0), tzinfo=tz)
            fire = _cron(self.schedule[5:], tz).get_next_fire_time(None, start)
            return fire is not None and fire.date() == day
        return True

    def previous_day(self, day: date, tz: ZoneInfo) -> date:
        """The schedule's edition day before `day` (at most 7 days back): its window starts there."""
        for back in range(1, 8):
            if self.sends_on(day - timedelta(days=back), tz):
                return day - timedelta(days=back)
        return day - timedelta(days=7)

    def covers(self, topics, country: str | None) -> bool:
        """Whether an article (its topics and country) is within the newsletter's scope."""
        return ((not self.topics or bool(set(topics or ()) & set(self.topics)))
                and (not self.countries or country in self.countries))

    def sender(self, base: SenderSettings) -> SenderSettings:
        """The `[sender]` of this newsletter's messages: its From, Reply-To, List-Id and names."""
        return replace(base, from_name=self.from_name, from_address=self.from_address,
                       reply_to=self.reply_to or base.reply_to, list_id=self.list_id, list_name=self.name,
                       weekly_name=self.weekly_name)

    def edition_key(self, day: date, period: str) -> str:
        weekly = period == "weekly" and self.offers_weekly
        return f"{self.key}:weekly:{day.isoformat()}" if weekly else f"{self.key}:{day.isoformat()}"


def legacy_newsletter(sender: SenderSettings, send_at: str, language: str = "en") -> Newsletter:
    """The one newsletter of an install without `[[newsletters]]`."""
    return Newsletter(key=DEFAULT_KEY, name=sender.list_name, list_id=sender.list_id, from_name=sender.from_name,
                      from_address=sender.from_address, reply_to=sender.reply_to, send_at=send_at,
                      language=language, weekly_name=sender.weekly_name)


def _cron(expr: str, tz: ZoneInfo):
    """A crontab line as APScheduler's CronTrigger. Its day-of-week numbers are crontab's (0 and 7 = Sunday,
    1 = Monday), which APScheduler 3 would read as 0 = Monday: they are given to it as names."""
    from apscheduler.triggers.cron import CronTrigger

    parts = expr.split()
    if len(parts) != 5:
        raise ValueError(f"expected 5 fields, got {len(parts)}")
    minute, hour, day, month, dow = parts
    return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=_crontab_days(dow), timezone=tz)


CRONTAB_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _crontab_days(field: str) -> str:
    """crontab's day-of-week field ("1-5", "0,6", "*/2", "mon-fri") with its numbers as day names."""
    names = []
    for part in field.split(","):
        span, _, step = part.partition("/")
        if not re.fullmatch(r"\d+(-\d+)?|\*", span):
            names.append(part)  # names and anything else: APScheduler's own reading
            continue
        first, _, last = span.partition("-")
        lo, hi = (0, 6) if span == "*" else (int(first), int(last or first))
        if not 0 <= lo <= hi <= 7 or (step and not step.isdigit()):
            raise ValueError(f"day of week {part!r} is not 0-7")
        names += [CRONTAB_DAYS[d] for d in range(lo, hi + 1, int(step or 1))]
    return ",".join(dict.fromkeys(names))


REQUIRED = ("key", "name", "list_id", "from_address")
TYPES = {f.name: f.type for f in fields(Newsletter)}


def read_newsletters(tables: object, origin: str, *, defaults: dict | None = None) -> tuple[Newsletter, ...]:
    """`[[newsletters]]` (a TOML array of tables) as Newsletters; one line naming the file and key if not valid.
    `defaults`: what a table leaves out (`[sender] language`, `[schedule] send_at`)."""
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{origin}: newsletters must be an array of tables ([[newsletters]])")
    found: list[Newsletter] = []
    for n, table in enumerate(tables, 1):
        letter = _read_one({**(defaults or {}), **table}, f"{origin}: [[newsletters]] #{n}")
        if any(other.key == letter.key for other in found):
            raise ConfigError(f"{origin}: [[newsletters]] #{n} key: {letter.key!r} is used twice")
        found.append(letter)
    return tuple(found)


def _read_one(table: dict, where: str) -> Newsletter:
    for key in REQUIRED:
        if key not in table:
            raise ConfigError(f"{where} {key}: missing (every newsletter needs {', '.join(REQUIRED)})")
    values = {}
    for key, raw in table.items():
        if key not in TYPES:
            raise ConfigError(f"{where} {key}: unknown key")
        values[key] = _coerce(raw, TYPES[key], f"{where} {key}")
    values.setdefault("from_name", values["name"])
    letter = Newsletter(**values)
    check_newsletter(letter, lambda key, problem: ConfigError(f"{where} {key}: {problem}"))
    return letter


def _coerce(raw: object, kind: str, where: str):
    if "tuple" in kind:
        if isinstance(raw, list) and all(isinstance(v, str) for v in raw):
            return tuple(v.strip() for v in raw if v.strip())
        raise ConfigError(f"{where}: expected a list of strings, got {raw!r}")
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
    elif kind == "int":
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
    elif isinstance(raw, str):
        return raw.strip()
    raise ConfigError(f"{where}: expected {kind}, got {raw!r}")


def check_newsletter(n: Newsletter, bad) -> None:
    """Each problem as `bad(key, problem)` (an exception to raise)."""
    if not KEY_RE.fullmatch(n.key):
        raise bad("key", f"must be lower-case letters, digits and _ (starting with a letter), got {n.key!r}")
    if n.key in ("daily", "weekly"):
        raise bad("key", f"{n.key!r} is reserved (the links made before newsletters existed use it)")
    if not n.name.strip():
        raise bad("name", "must not be empty")
    for key in ("from_address",) + (("reply_to",) if n.reply_to else ()):
        if not EMAIL_RE.match(getattr(n, key)):
            raise bad(key, f"not an email address: {getattr(n, key)!r}")
    if not re.fullmatch(r"[A-Za-z0-9.-]+", n.list_id):
        raise bad("list_id", f"must look like a domain name, got {n.list_id!r}")
    _check_schedule(n, bad)
    if n.language not in LANGUAGES:
        raise bad("language", f"must be one of {', '.join(LANGUAGES)}, got {n.language!r}")
    try:
        parse_hhmm(n.send_at)
    except ValueError as exc:
        raise bad("send_at", str(exc)) from None
    if not 0 <= n.max_items <= 100:
        raise bad("max_items", f"must be 0 (the reader's own) to 100, got {n.max_items}")
    if n.accent_color and not COLOR_RE.fullmatch(n.accent_color):
        raise bad("accent_color", f"must be #RRGGBB, got {n.accent_color!r}")
    if n.logo_url and not n.logo_url.startswith("https://"):
        raise bad("logo_url", f"must be an https URL, got {n.logo_url!r}")


def _check_schedule(n: Newsletter, bad) -> None:
    kind, _, rest = n.schedule.partition(":")
    if kind == "daily" and not rest:
        return
    if kind == "weekly" and rest in WEEKDAY_NAMES:
        return
    if kind == "cron" and rest:
        try:
            _cron(rest, ZoneInfo("UTC"))
            return
        except ValueError as exc:
            raise bad("schedule", f"not a cron line ({exc}): {rest!r}") from None
    raise bad("schedule", f'must be "daily", "weekly:mon".."weekly:sun" or "cron:MIN HOUR DOM MON DOW", '
                          f"got {n.schedule!r}")
