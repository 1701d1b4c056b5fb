"""What a valid configuration is: each rule raises one line naming the file (or variable), section and key."""

from __future__ import annotations

import dataclasses
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digest.config.sections import FeedsSettings, SelectionSettings, Settings
from digest.config.values import EMAIL_RE, LANGUAGES, parse_hhmm
from digest.errors import ConfigError


MIN_SECRET_BYTES = 32  # HMAC-SHA256 keys: shorter ones can be guessed offline from any link a reader forwards
TEN_YEARS = {"hours": 87_600, "minutes": 5_256_000, "seconds": 315_360_000}
MAX_INT = 2**31 - 1  # what every store column holds
MAX_FLOAT = 1e9


def validate(s: Settings, origin: str, origins: dict[tuple[str, str], str] | None = None) -> None:
    """`origins` names where a value came from when not from `origin` (the environment variable)."""
    origins = origins or {}

    def bad(section: str, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{origins.get((section, key), origin)}: [{section}] {key}: {problem}")

    _validate_magnitudes(s, bad)
    _validate_secrets(s)
    _validate_store(s, bad)
    _validate_smtp(s.smtp, bad)
    _validate_sender(s.sender, bad)
    _validate_schedule(s.schedule, bad)
    _validate_selection(s.selection, bad)
    _validate_workers(s, bad)
    _validate_send_and_log(s, bad)
    _validate_feeds(s.feeds, bad)
    _validate_reader_side(s, bad)
    _validate_breaker(s, bad)
    _validate_newsletter_domains(s, origin)


def _validate_newsletter_domains(s: Settings, origin: str) -> None:
    """With DKIM, every newsletter's From domain is the signing domain or under it (DMARC alignment)."""
    if not s.dkim.enabled:
        return
    domain = s.dkim.domain.lower()
    for n, letter in enumerate(s.configured_newsletters, 1):
        own = letter.from_address.rpartition("@")[2].lower()
        if own != domain and not own.endswith("." + domain):
            raise ConfigError(f"{origin}: [[newsletters]] #{n} from_address: the domain {own!r} is not [dkim] domain "
                              f"{s.dkim.domain!r} or under it, so DMARC would not align")


def _validate_smtp(smtp, bad) -> None:
    if smtp.tls not in {"starttls", "implicit", "none"}:
        raise bad("smtp", "tls", f"must be starttls, implicit or none, got {smtp.tls!r}")
    if not 0 < smtp.port < 65536:
        raise bad("smtp", "port", f"must be 1-65535, got {smtp.port}")
    for key in ("connections", "max_per_connection"):
        if getattr(smtp, key) < 1:
            raise bad("smtp", key, "must be at least 1")
    for key in ("timeout", "data_timeout"):
        if getattr(smtp, key) <= 0:
            raise bad("smtp", key, "must be positive")
    if smtp.username and smtp.tls == "none":
        raise bad("smtp", "username", "AUTH is only sent over TLS: set tls to starttls or implicit")
    if smtp.rate_per_second < 0:
        raise bad("smtp", "rate_per_second", "must be 0 (no limit) or positive")


def _validate_sender(sender, bad) -> None:
    for key in ("from_address",) + (("reply_to",) if sender.reply_to else ()):
        if not EMAIL_RE.match(getattr(sender, key)):
            raise bad("sender", key, f"not an email address: {getattr(sender, key)!r}")
    if not re.match(r"^https?://[^/\s]+", sender.base_url):
        raise bad("sender", "base_url", f"must be an http(s) URL, got {sender.base_url!r}")
    if not re.fullmatch(r"[A-Za-z0-9.-]+", sender.list_id):
        raise bad("sender", "list_id", f"must look like a domain name, got {sender.list_id!r}")
    if sender.language not in LANGUAGES:
        raise bad("sender", "language", f"must be one of {', '.join(LANGUAGES)}, got {sender.language!r}")


def _validate_schedule(schedule, bad) -> None:
    try:
        parse_hhmm(schedule.send_at)
    except ValueError as exc:
        raise bad("schedule", "send_at", str(exc)) from None
    try:
        ZoneInfo(schedule.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise bad("schedule", "timezone", f"unknown time zone {schedule.timezone!r}") from None
    if schedule.tick_minutes < 1:
        raise bad("schedule", "tick_minutes", "must be at least 1")


def _validate_send_and_log(s: Settings, bad) -> None:
    if s.send.batch_size < 1:
        raise bad("send", "batch_size", "must be at least 1")
    if s.send.record_every < 1:
        raise bad("send", "record_every", "must be at least 1")
    if not s.send.record_seconds > 0:
        raise bad("send", "record_seconds", "must be more than 0")
    if s.send.compose_process not in ("auto", "off"):
        raise bad("send", "compose_process", "must be auto or off")
    if s.send.plan_process not in ("auto", "on", "off"):
        raise bad("send", "plan_process", f"must be auto, on or off, got {s.send.plan_process!r}")
    if s.send.deadline_hours <= 0:
        raise bad("send", "deadline_hours", "must be positive")
    if s.send.approval not in ("none", "required"):
        raise bad("send", "approval", f"must be none or required, got {s.send.approval!r}")
    if s.log.format not in ("text", "json"):
        raise bad("log", "format", f"must be text or json, got {s.log.format!r}")
    if s.log.level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise bad("log", "level", f"must be DEBUG, INFO, WARNING or ERROR, got {s.log.level!r}")

def _validate_magnitudes(s: Settings, bad) -> None:
    """Every number in a range the code can compute with: durations at most ten years, counts fit a column."""
    for section in dataclasses.fields(s):
        group = getattr(s, section.name)
        if not dataclasses.is_dataclass(group):
            continue
        for fld in dataclasses.fields(group):
            value = getattr(group, fld.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            unit = next((u for u in TEN_YEARS if fld.name.endswith(u)), "seconds" if "timeout" in fld.name else None)
            limit = TEN_YEARS[unit] if unit else (MAX_INT if isinstance(value, int) else MAX_FLOAT)
            if abs(value) > limit:
                what = f"{limit:,} {unit} (ten years)" if unit else f"{limit:,}"
                raise bad(section.name, fld.name, f"must be at most {what}, got {value:,}")


def _validate_store(s: Settings, bad) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    example = "sqlite:///PATH or postgresql+psycopg://USER@HOST/DATABASE"
    try:
        backend = make_url(s.store.url).get_backend_name()
    except ArgumentError:
        raise bad("store", "url", f"not a database URL (expected {example})") from None
    if backend not in ("sqlite", "postgresql"):
        raise bad("store", "url", f"{backend} is not supported (expected {example})")


def _validate_secrets(s: Settings) -> None:
    if s.secret_key and len(s.secret_key.encode()) < MIN_SECRET_BYTES:
        raise ConfigError(f"environment DIGEST_SECRET_KEY: must be at least {MIN_SECRET_BYTES} bytes, got "
                          f"{len(s.secret_key.encode())} (make one with: python3 -c 'import secrets; "
                          "print(secrets.token_urlsafe(32))')")


def _validate_workers(s: Settings, bad) -> None:
    workers = s.workers
    if workers.engine not in ("embedded", "procrastinate"):
        raise bad("workers", "engine", f"must be embedded or procrastinate, got {workers.engine!r}")
    if workers.engine == "procrastinate" and not s.store.url.startswith("postgresql"):
        raise bad("workers", "engine", "procrastinate needs a PostgreSQL store: set [store] url (or "
                  "DIGEST_STORE_URL) to postgresql+psycopg://...")
    for key in ("shard_size", "concurrency"):
        if getattr(workers, key) < 1:
            raise bad("workers", key, "must be at least 1")
    if not 0 < workers.heartbeat_seconds < workers.stalled_seconds:
        raise bad("workers", "stalled_seconds", "must be greater than heartbeat_seconds (both positive)")
    for section, key in (("schedule", "tick_minutes"), ("feeds", "poll_minutes")):
        minutes = getattr(getattr(s, section), key)
        if workers.engine == "procrastinate" and minutes >= 1 and cron_every(minutes) is None:
            raise bad(section, key, f"with workers it must divide an hour (1-30) or a day (60, 120, 180, 240, "
                      f"360, 480, 720, 1440): the workers schedule it with cron; got {minutes}")
    if workers.recover_seconds < 1 or 60 % workers.recover_seconds:
        raise bad("workers", "recover_seconds", f"must divide 60 (1, 2, 3, 5, 10, 15, 20, 30), got {workers.recover_seconds}")


def cron_every(minutes: int) -> str | None:
    """A cron line firing every `minutes`, or None when cron cannot say it (it must divide an hour or a day)."""
    if 0 < minutes < 60 and 60 % minutes == 0:
        return f"*/{minutes} * * * *"
    if minutes % 60 == 0 and 0 < minutes // 60 <= 24 and 24 % (minutes // 60) == 0:
        return f"0 */{minutes // 60} * * *"
    return None


def _validate_feeds(feeds: FeedsSettings, bad) -> None:
    if feeds.poll_minutes < 1:
        raise bad("feeds", "poll_minutes", "must be at least 1")
    if feeds.timeout <= 0:
        raise bad("feeds", "timeout", "must be positive")
    if feeds.max_bytes < 1024:
        raise bad("feeds", "max_bytes", "must be at least 1024")
    if not feeds.user_agent.strip() or any(c in feeds.user_agent for c in "\r\n"):
        raise bad("feeds", "user_agent", "must be one non-empty line")


def _validate_reader_side(s: Settings, bad) -> None:
    if not 0 < s.web.port < 65536:
        raise bad("web", "port", f"must be 1-65535, got {s.web.port}")
    _validate_signup(s, bad)
    if s.bounces.soft_threshold < 1:
        raise bad("bounces", "soft_threshold", "must be at least 1")
    if s.bounces.poll_minutes < 0:
        raise bad("bounces", "poll_minutes", "must be 0 (off) or more")
    if s.bounces.imap_tls not in ("ssl", "starttls", "none"):
        raise bad("bounces", "imap_tls", f"must be ssl, starttls or none, got {s.bounces.imap_tls!r}")
    dkim = {k: getattr(s.dkim, k) for k in ("selector", "domain", "private_key_path")}
    if any(dkim.values()) and not all(dkim.values()):
        missing = next(k for k, v in dkim.items() if not v)
        raise bad("dkim", missing, "DKIM needs selector, domain and private_key_path together")
    if s.dkim.enabled and not re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*", s.dkim.selector):
        raise bad("dkim", "selector", f"not a DNS label: {s.dkim.selector!r}")
    domain = s.dkim.domain.lower()
    if s.dkim.enabled and not (s.sender_domain.lower() == domain or s.sender_domain.lower().endswith("." + domain)):
        raise bad("dkim", "domain", f"{s.dkim.domain!r} is not the From domain {s.sender_domain!r} or a parent of "
                                    "it, so DMARC would not align")


def _validate_selection(sel: SelectionSettings, bad) -> None:
    for key in ("window_hours", "weekly_window_hours", "half_life_hours", "weekly_half_life_hours"):
        if getattr(sel, key) <= 0:
            raise bad("selection", key, "must be positive")
    for key in ("max_items", "trending_window_hours", "trending_baseline_hours"):
        if getattr(sel, key) < 1:
            raise bad("selection", key, "must be at least 1")
    if sel.trending_items < 0:
        raise bad("selection", "trending_items", "must be 0 or more")
    if not 0 < sel.story_threshold <= 1:
        raise bad("selection", "story_threshold", f"must be in (0, 1], got {sel.story_threshold}")
    if sel.story_window_hours <= 0:
        raise bad("selection", "story_window_hours", "must be positive")
    if not 0 <= sel.mmr_lambda <= 1:
        raise bad("selection", "mmr_lambda", f"must be between 0 and 1, got {sel.mmr_lambda}")
    if sel.topic_cap < 0:
        raise bad("selection", "topic_cap", "must be 0 (no cap) or more")


# A rate in the `limits` library's notation ("10/hour", "3 per minute", "20/2 hours"; several with ";"), checked
# here without importing `limits` (its import costs every command a large fraction of a second).
_RATE = r"\s*\d+\s*(?:/|per)\s*(?:\d+\s*)?(?:second|minute|hour|day|month|year)s?\s*"
RATES_RE = re.compile(rf"{_RATE}(?:[;,]{_RATE})*", re.IGNORECASE)


def _validate_signup(s: Settings, bad) -> None:
    for key in ("signup_limit_ip", "signup_limit_address", "admin_login_limit"):
        if not RATES_RE.fullmatch(getattr(s.web, key)):
            raise bad("web", key, f"expected a rate like \"10/hour\" or \"3/minute;20/day\", got "
                                  f"{getattr(s.web, key)!r}")
    if not RATES_RE.fullmatch(s.api.rate_limit):
        raise bad("api", "rate_limit", f"expected a rate like \"600/minute\", got {s.api.rate_limit!r}")
    if not 0 <= s.web.confirm_window_hours <= 24 * 365:
        raise bad("web", "confirm_window_hours", "must be between 0 and 8760")
    if not 0 < s.web.confirm_link_days <= 365:
        raise bad("web", "confirm_link_days", "must be more than 0 and at most 365")
    if not 1 <= s.web.session_idle_minutes <= 10_080:
        raise bad("web", "session_idle_minutes", f"must be 1 to 10080 (a week), got {s.web.session_idle_minutes}")


def _validate_breaker(s: Settings, bad) -> None:
    """The relay's circuit breakers: failed connects in a row, and one failure dominating the recent outcomes."""
    if not 1 <= s.smtp.connect_failures <= 100:
        raise bad("smtp", "connect_failures", f"must be 1-100, got {s.smtp.connect_failures}")
    if not 0 <= s.smtp.connect_backoff_seconds <= 600:
        raise bad("smtp", "connect_backoff_seconds", f"must be 0-600, got {s.smtp.connect_backoff_seconds}")
    send = s.send
    if not 0 <= send.breaker_window <= 100_000:
        raise bad("send", "breaker_window", f"must be 0 (no breaker) to 100000, got {send.breaker_window}")
    if send.breaker_window and not 1 <= send.breaker_min_outcomes <= send.breaker_window:
        raise bad("send", "breaker_min_outcomes", f"must be 1 to breaker_window ({send.breaker_window}), "
                  f"got {send.breaker_min_outcomes}")
    if not 0.5 < send.breaker_threshold <= 1:
        raise bad("send", "breaker_threshold", f"must be above 0.5 and at most 1, got {send.breaker_threshold}")
