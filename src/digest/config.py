"""Settings: built-in defaults, then `config.toml`, then `DIGEST_<SECTION>_<KEY>` variables.

Validated once at load; the result is frozen and passed down. Secrets (SMTP password, token key)
come only from the environment: a `password` or `secret_key` in the file is an error.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digest.errors import ConfigError

SECRET_KEYS = {"password", "secret_key"}
EMAIL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")  # ASCII: SMTP without SMTPUTF8


@dataclass(frozen=True)
class StoreSettings:
    url: str = "sqlite:///var/digest.db"


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "localhost"
    port: int = 587
    tls: str = "starttls"  # starttls | implicit | none
    username: str = ""
    local_hostname: str = ""  # default: the sender address's domain
    timeout: float = 30.0  # connect and command replies
    data_timeout: float = 600.0  # the reply after the final "." (RFC 5321 allows 10 minutes)
    connections: int = 4
    rate_per_second: float = 0.0  # 0 = no limit
    max_per_connection: int = 100
    validate_certs: bool = True
    password: str = dataclasses.field(default="", repr=False)  # DIGEST_SMTP_PASSWORD only


@dataclass(frozen=True)
class SenderSettings:
    from_name: str = "The Daily Digest"
    from_address: str = "digest@example.com"
    reply_to: str = ""
    postal_address: str = "Example Media, 1 Example Street, Springfield"
    list_id: str = "daily-digest.example.com"
    list_name: str = "The Daily Digest"
    base_url: str = "https://news.example.com"


@dataclass(frozen=True)
class ScheduleSettings:
    send_at: str = "07:00"
    timezone: str = "UTC"
    misfire_grace_minutes: int = 120
    tick_minutes: int = 5  # how often the daemon looks for subscribers whose local send time has come


@dataclass(frozen=True)
class SelectionSettings:
    window_hours: float = 36.0
    weekly_window_hours: float = 168.0
    half_life_hours: float = 12.0
    weekly_half_life_hours: float = 48.0
    gravity: float = 0.0  # 0 = off; 1.5 divides by (age_h + 2)^1.5
    weight_view: float = 1.0
    weight_comment: float = 2.0
    weight_click: float = 3.0
    weight_share: float = 5.0
    trending_window_hours: int = 3
    trending_baseline_hours: int = 24
    trending_min_views: int = 20
    trending_min_z: float = 2.0
    trending_items: int = 3
    max_items: int = 10
    story_threshold: float = 0.3  # average-linkage TF-IDF cosine for "same event"; see tests/data/story_pairs.csv
    story_window_hours: float = 48.0  # articles further apart than this are never one story
    mmr_lambda: float = 0.7  # maximal marginal relevance: 1 = rank order only, lower = more variety
    topic_cap: int = 2  # stories per topic in one digest (0 = no cap)


@dataclass(frozen=True)
class SendSettings:
    batch_size: int = 100
    retry_base_seconds: float = 300.0
    retry_max_seconds: float = 3600.0
    deadline_hours: float = 6.0  # from when an edition was due (daemon) or started by hand (`digest send`)
    lock_wait_seconds: float = 30.0  # how long `digest send` waits for another sender to finish


@dataclass(frozen=True)
class LogSettings:
    format: str = "text"  # text | json: one line per delivery transition either way
    level: str = "INFO"


@dataclass(frozen=True)
class RenderSettings:
    templates: str = "templates/email"


@dataclass(frozen=True)
class FeedsSettings:
    poll_minutes: int = 30
    timeout: float = 20.0  # seconds for the whole fetch of one feed or page
    max_bytes: int = 5_000_000  # a bigger response (after decompression) is refused
    user_agent: str = "digest/0.1 (newsletter digest feed reader; +https://news.example.com)"


@dataclass(frozen=True)
class WebSettings:
    host: str = "127.0.0.1"  # `digest serve` listens here; put a TLS-terminating proxy in front
    port: int = 8000
    templates: str = "templates/web"
    click_tracking: bool = False  # opt-in: item links go through /c/ and count a click


@dataclass(frozen=True)
class DkimSettings:
    selector: str = ""
    domain: str = ""  # the From domain or a parent of it (DMARC alignment)
    private_key_path: str = ""  # PEM; relative to the config file

    @property
    def enabled(self) -> bool:
        return bool(self.selector and self.domain and self.private_key_path)


@dataclass(frozen=True)
class BouncesSettings:
    soft_threshold: int = 3  # consecutive soft bounces that suppress a subscriber


@dataclass(frozen=True)
class ScaleSettings:
    engine: str = "embedded"  # embedded: one process sends | procrastinate: `digest worker` processes send shards
    shard_size: int = 1000  # subscribers per shard task
    concurrency: int = 2  # shards one `digest worker` sends at once (overridden by --concurrency)
    heartbeat_seconds: float = 10.0  # how often a worker tells PostgreSQL it is alive
    stalled_seconds: float = 60.0  # a worker silent this long is dead: its jobs are recovered and retried
    recover_seconds: int = 15  # how often (seconds, dividing 60) the cluster looks for stalled jobs


@dataclass(frozen=True)
class Settings:
    store: StoreSettings = field(default_factory=StoreSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    sender: SenderSettings = field(default_factory=SenderSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    selection: SelectionSettings = field(default_factory=SelectionSettings)
    send: SendSettings = field(default_factory=SendSettings)
    render: RenderSettings = field(default_factory=RenderSettings)
    log: LogSettings = field(default_factory=LogSettings)
    feeds: FeedsSettings = field(default_factory=FeedsSettings)
    web: WebSettings = field(default_factory=WebSettings)
    dkim: DkimSettings = field(default_factory=DkimSettings)
    bounces: BouncesSettings = field(default_factory=BouncesSettings)
    scale: ScaleSettings = field(default_factory=ScaleSettings)
    secret_key: str = dataclasses.field(default="", repr=False)  # DIGEST_SECRET_KEY only
    events_token: str = dataclasses.field(default="", repr=False)  # DIGEST_EVENTS_TOKEN only: POST /events
    base_dir: Path = field(default_factory=Path.cwd)
    source: str = "built-in defaults"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.schedule.timezone)

    @property
    def send_time(self) -> time:
        return parse_hhmm(self.schedule.send_at)

    @property
    def sender_domain(self) -> str:
        return self.sender.from_address.rpartition("@")[2]

    @property
    def templates_dir(self) -> Path:
        path = Path(self.render.templates)
        return path if path.is_absolute() else self.base_dir / path

    @property
    def web_templates_dir(self) -> Path:
        path = Path(self.web.templates)
        return path if path.is_absolute() else self.base_dir / path

    @property
    def dkim_key_path(self) -> Path:
        path = Path(self.dkim.private_key_path)
        return path if path.is_absolute() else self.base_dir / path


SECTIONS = {f.name: f.type for f in fields(Settings)
            if f.name not in {"secret_key", "events_token", "base_dir", "source"}}


def parse_hhmm(value: str) -> time:
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", value.strip())
    if not match:
        raise ValueError(f"expected HH:MM, got {value!r}")
    return time(int(match[1]), int(match[2]))


def load_settings(path: Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Defaults, then the file (when given or ./config.toml exists), then the environment."""
    environ = os.environ if environ is None else environ
    if path is None and Path("config.toml").is_file():
        path = Path("config.toml")
    data = _read_toml(path) if path else {}
    origin = str(path) if path else "built-in defaults"
    sections = {name: _build_section(name, data.pop(name, {}), origin, environ) for name in _section_classes()}
    if data:
        key = next(iter(data))
        raise ConfigError(f"{origin}: unknown section or key {key!r}")
    settings = Settings(
        **sections,
        secret_key=environ.get("DIGEST_SECRET_KEY", ""),
        events_token=environ.get("DIGEST_EVENTS_TOKEN", ""),
        base_dir=(path.resolve().parent if path else Path.cwd()),
        source=origin,
    )
    _validate(settings, origin)
    return settings


def _section_classes() -> dict[str, type]:
    return {
        "store": StoreSettings, "smtp": SmtpSettings, "sender": SenderSettings, "schedule": ScheduleSettings,
        "selection": SelectionSettings, "send": SendSettings, "render": RenderSettings, "log": LogSettings,
        "feeds": FeedsSettings, "web": WebSettings, "dkim": DkimSettings, "bounces": BouncesSettings,
        "scale": ScaleSettings,
    }


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def _build_section(name: str, table: object, origin: str, environ: dict[str, str]):
    cls = _section_classes()[name]
    if not isinstance(table, dict):
        raise ConfigError(f"{origin}: [{name}] must be a table")
    values = {}
    known = {f.name: f for f in fields(cls)}
    for key, raw in table.items():
        if key in SECRET_KEYS:
            var = f"DIGEST_{name.upper()}_{key.upper()}"
            raise ConfigError(f"{origin}: [{name}] {key}: secrets are not read from files; set {var}")
        if key not in known:
            raise ConfigError(f"{origin}: [{name}] {key}: unknown key")
        values[key] = _coerce(raw, known[key].default, f"{origin}: [{name}] {key}")
    for key, fld in known.items():
        var = f"DIGEST_{name.upper()}_{key.upper()}"
        if var in environ:
            values[key] = _coerce_env(environ[var], fld.default, f"environment {var}")
    return cls(**values)


def _coerce(raw: object, default: object, where: str):
    kind = type(default)
    if kind is bool:
        if isinstance(raw, bool):
            return raw
    elif kind is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
    elif kind is float:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw)
    elif isinstance(raw, str):
        return raw
    raise ConfigError(f"{where}: expected {kind.__name__}, got {raw!r}")


def _coerce_env(raw: str, default: object, where: str):
    kind = type(default)
    try:
        if kind is bool:
            lowered = raw.strip().lower()
            if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                raise ValueError
            return lowered in {"1", "true", "yes", "on"}
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{where}: expected {kind.__name__}, got {raw!r}") from None


def _validate(s: Settings, origin: str) -> None:
    def bad(section: str, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{origin}: [{section}] {key}: {problem}")

    if s.smtp.tls not in {"starttls", "implicit", "none"}:
        raise bad("smtp", "tls", f"must be starttls, implicit or none, got {s.smtp.tls!r}")
    if not 0 < s.smtp.port < 65536:
        raise bad("smtp", "port", f"must be 1-65535, got {s.smtp.port}")
    for key in ("connections", "max_per_connection"):
        if getattr(s.smtp, key) < 1:
            raise bad("smtp", key, "must be at least 1")
    for key in ("timeout", "data_timeout"):
        if getattr(s.smtp, key) <= 0:
            raise bad("smtp", key, "must be positive")
    if s.smtp.username and s.smtp.tls == "none":
        raise bad("smtp", "username", "AUTH is only sent over TLS: set tls to starttls or implicit")
    if s.smtp.rate_per_second < 0:
        raise bad("smtp", "rate_per_second", "must be 0 (no limit) or positive")
    for key in ("from_address",) + (("reply_to",) if s.sender.reply_to else ()):
        if not EMAIL_RE.match(getattr(s.sender, key)):
            raise bad("sender", key, f"not an email address: {getattr(s.sender, key)!r}")
    if not re.match(r"^https?://[^/\s]+", s.sender.base_url):
        raise bad("sender", "base_url", f"must be an http(s) URL, got {s.sender.base_url!r}")
    if not re.fullmatch(r"[A-Za-z0-9.-]+", s.sender.list_id):
        raise bad("sender", "list_id", f"must look like a domain name, got {s.sender.list_id!r}")
    try:
        parse_hhmm(s.schedule.send_at)
    except ValueError as exc:
        raise bad("schedule", "send_at", str(exc)) from None
    try:
        ZoneInfo(s.schedule.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise bad("schedule", "timezone", f"unknown time zone {s.schedule.timezone!r}") from None
    _validate_selection(s.selection, bad)
    _validate_scale(s, bad)
    if s.send.batch_size < 1:
        raise bad("send", "batch_size", "must be at least 1")
    if s.send.deadline_hours <= 0:
        raise bad("send", "deadline_hours", "must be positive")
    if s.schedule.tick_minutes < 1:
        raise bad("schedule", "tick_minutes", "must be at least 1")
    if s.log.format not in ("text", "json"):
        raise bad("log", "format", f"must be text or json, got {s.log.format!r}")
    if s.log.level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise bad("log", "level", f"must be DEBUG, INFO, WARNING or ERROR, got {s.log.level!r}")
    _validate_feeds(s.feeds, bad)
    _validate_reader_side(s, bad)


def _validate_scale(s: Settings, bad) -> None:
    scale = s.scale
    if scale.engine not in ("embedded", "procrastinate"):
        raise bad("scale", "engine", f"must be embedded or procrastinate, got {scale.engine!r}")
    if scale.engine == "procrastinate" and not s.store.url.startswith("postgresql"):
        raise bad("scale", "engine", "procrastinate needs a PostgreSQL store: set [store] url (or "
                  "DIGEST_STORE_URL) to postgresql+psycopg://...")
    for key in ("shard_size", "concurrency"):
        if getattr(scale, key) < 1:
            raise bad("scale", key, "must be at least 1")
    if not 0 < scale.heartbeat_seconds < scale.stalled_seconds:
        raise bad("scale", "stalled_seconds", "must be greater than heartbeat_seconds (both positive)")
    for section, key in (("schedule", "tick_minutes"), ("feeds", "poll_minutes")):
        minutes = getattr(getattr(s, section), key)
        if scale.engine == "procrastinate" and minutes >= 1 and cron_every(minutes) is None:
            raise bad(section, key, f"with workers it must divide an hour (1-30) or a day (60, 120, 180, 240, "
                      f"360, 480, 720, 1440): the cluster schedules it with cron; got {minutes}")
    if scale.recover_seconds < 1 or 60 % scale.recover_seconds:
        raise bad("scale", "recover_seconds", f"must divide 60 (1, 2, 3, 5, 10, 15, 20, 30), got {scale.recover_seconds}")


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
    if s.bounces.soft_threshold < 1:
        raise bad("bounces", "soft_threshold", "must be at least 1")
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
