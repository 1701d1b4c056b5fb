"""The settings: one frozen dataclass per `[section]` of `config.toml`, defaults included."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cached_property
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo

from digest.config.newsletters import Newsletter, legacy_newsletter
from digest.config.values import parse_hhmm
from digest.errors import ConfigError



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
    connect_failures: int = 3  # failed connects in a row (refused, no greeting, 421) that stop the run
    connect_backoff_seconds: float = 1.0  # the pool's wait after a failed connect, doubling each time
    pipelining: bool = True  # MAIL, RCPT and DATA in one write when the relay's EHLO offers PIPELINING (RFC 2920)
    password: str = dataclasses.field(default="", repr=False)  # DIGEST_SMTP_PASSWORD only


@dataclass(frozen=True)
class SenderSettings:
    from_name: str = "The Daily Digest"
    from_address: str = "digest@example.com"
    reply_to: str = ""
    postal_address: str = "Example Media, 1 Example Street, Springfield"
    list_id: str = "daily-digest.example.com"
    list_name: str = "The Daily Digest"
    weekly_name: str = "The Weekly Digest"  # the weekly edition's masthead and subject (empty: list_name)
    base_url: str = "https://news.example.com"
    language: str = "en"  # of the emails and reader pages: one of LANGUAGES


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
    story_threshold: float = 0.85  # probability of "same event" (stories/model.json; scripts/fit_story_model.py)
    story_window_hours: float = 48.0  # articles further apart than this are never one story
    mmr_lambda: float = 0.7  # maximal marginal relevance: 1 = rank order only, lower = more variety
    topic_cap: int = 2  # stories per topic in one digest (0 = no cap)


@dataclass(frozen=True)
class SendSettings:
    batch_size: int = 100  # the most rows claimed and not yet recorded (claimed half a batch at a time)
    record_every: int = 50  # the sender commits outcomes every this many results ...
    record_seconds: float = 0.2  # ... or this often, whichever comes first
    compose_process: str = "auto"  # auto | off: compose and claim in a forked child once an edition is big
    plan_process: str = "auto"  # auto | on | off: plan in a forked child while the sender sends (auto: PostgreSQL)
    retry_base_seconds: float = 300.0
    retry_max_seconds: float = 3600.0
    deadline_hours: float = 6.0  # from when an edition was due (daemon) or started by hand (`digest send`)
    lock_wait_seconds: float = 30.0  # how long `digest send` waits for another sender to finish
    breaker_window: int = 100  # the circuit breaker looks at this run's last N outcomes (0 = no breaker)
    breaker_min_outcomes: int = 30  # ... once it has seen at least this many
    breaker_threshold: float = 0.9  # ... and pauses the edition when this share of them is one same failure
    approval: str = "none"  # none | required: an editor approves each edition before anything of it is planned


@dataclass(frozen=True)
class LogSettings:
    format: str = "text"  # text | json: one line per delivery transition either way
    level: str = "INFO"


@dataclass(frozen=True)
class RenderSettings:
    templates: str = ""  # empty: the templates shipped inside the package (digest/templates/email)


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
    templates: str = ""  # empty: the page templates shipped inside the package (digest/templates/web)
    click_tracking: bool = False  # opt-in: item links go through /c/ and count a click
    signup_limit_ip: str = "10/hour"  # sign-ups accepted from one client address (`limits` notation, ";" between)
    signup_limit_address: str = "3/day"  # sign-up requests acted on for one email address
    confirm_window_hours: float = 24.0  # at most one confirmation email per address in this window
    confirm_link_days: float = 7.0  # a confirmation link expires this long after it was issued
    session_idle_minutes: int = 60  # a console session (/admin) unused this long ends; each request renews it
    admin_login_limit: str = "5/minute;20/hour"  # console logins tried per account and per client IP (then 429)


@dataclass(frozen=True)
class ApiSettings:
    rate_limit: str = "600/minute"  # requests per API key (`limits` notation, ";" between); then 429


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
    poll_minutes: int = 0  # the daemon reads the bounce mailbox this often (0: never; `digest bounces poll`)
    imap_host: str = ""  # the bounce mailbox (IMAP); its password only from DIGEST_IMAP_PASSWORD
    imap_port: int = 993
    imap_user: str = ""
    imap_tls: str = "ssl"  # ssl | starttls | none
    imap_folder: str = "INBOX"
    processed_folder: str = "digest-processed"  # read messages move here; unreadable ones stay
    ses_topic_arns: str = ""  # the SNS topics /webhooks/ses accepts (comma-separated); empty: the endpoint is off
    sns_test_hosts: str = ""  # TEST ONLY: more hosts (and plain http) allowed for SNS certificate and confirm URLs


@dataclass(frozen=True)
class InboundSecrets:
    """The bounce mailbox's password and the providers' webhook secrets, from the environment only."""

    imap_password: str = ""  # DIGEST_IMAP_PASSWORD
    sendgrid_public_key: str = ""  # DIGEST_SENDGRID_PUBLIC_KEY (base64 DER, as SendGrid shows it)
    mailgun_signing_key: str = ""  # DIGEST_MAILGUN_SIGNING_KEY
    postmark_user: str = ""  # DIGEST_POSTMARK_USER
    postmark_password: str = ""  # DIGEST_POSTMARK_PASSWORD

    @classmethod
    def from_environ(cls, environ) -> InboundSecrets:
        return cls(*(environ.get(f"DIGEST_{name.upper()}", "") for name in cls.__dataclass_fields__))


@dataclass(frozen=True)
class WebhooksSettings:
    disable_after_hours: float = 24.0  # an endpoint failing this long without a success is disabled
    timeout_seconds: float = 10.0  # one POST
    retry_base_seconds: float = 30.0  # the first retry; each next one waits twice as long (with jitter)
    retry_max_seconds: float = 21600.0  # the longest wait between two attempts (6 h)
    interval_seconds: float = 10.0  # how often `digest run` makes a delivery pass
    batch_size: int = 100  # attempts one pass posts at most
    keep_days: float = 30.0  # delivered events are deleted this long after their delivery


@dataclass(frozen=True)
class WorkersSettings:
    engine: str = "embedded"  # embedded: one process sends | procrastinate: `digest worker` processes send shards
    shard_size: int = 1000  # subscribers per shard task
    concurrency: int = 2  # shards one `digest worker` sends at once (overridden by --concurrency)
    heartbeat_seconds: float = 10.0  # how often a worker tells PostgreSQL it is alive
    stalled_seconds: float = 60.0  # a worker silent this long is dead: its jobs are recovered and retried
    recover_seconds: int = 15  # how often (seconds, dividing 60) the workers look for stalled jobs


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
    api: ApiSettings = field(default_factory=ApiSettings)
    dkim: DkimSettings = field(default_factory=DkimSettings)
    bounces: BouncesSettings = field(default_factory=BouncesSettings)
    workers: WorkersSettings = field(default_factory=WorkersSettings)
    webhooks: WebhooksSettings = field(default_factory=WebhooksSettings)
    configured_newsletters: tuple[Newsletter, ...] = ()  # the [[newsletters]] tables
    secret_key: str = dataclasses.field(default="", repr=False)  # DIGEST_SECRET_KEY only
    events_token: str = dataclasses.field(default="", repr=False)  # DIGEST_EVENTS_TOKEN only: POST /events
    inbound: InboundSecrets = field(default_factory=InboundSecrets, repr=False)  # DIGEST_IMAP_PASSWORD, providers'
    base_dir: Path = field(default_factory=Path.cwd)
    source: str = "built-in defaults"

    @cached_property
    def newsletters(self) -> tuple:
        """Every newsletter, in the file's order; without [[newsletters]], the one of [sender] and [schedule]."""
        if self.configured_newsletters:
            return self.configured_newsletters
        return (legacy_newsletter(self.sender, self.schedule.send_at, self.sender.language),)

    def newsletter(self, key: str | None = None):
        """The newsletter `key` (default: the first); an unknown key is a ConfigError naming the known ones."""
        letters = self.newsletters
        if key is None:
            return letters[0]
        for letter in letters:
            if letter.key == key:
                return letter
        raise ConfigError(f"unknown newsletter {key!r} (configured: {', '.join(n.key for n in letters)})")

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
        return self._templates(self.render.templates, "email")

    @property
    def web_templates_dir(self) -> Path:
        return self._templates(self.web.templates, "web")

    def _templates(self, configured: str, kind: str) -> Path:
        """A configured folder (relative to the config file), else the package's own templates."""
        if not configured:
            return PACKAGE_TEMPLATES / kind
        path = Path(configured)
        return path if path.is_absolute() else self.base_dir / path

    @property
    def dkim_key_path(self) -> Path:
        path = Path(self.dkim.private_key_path)
        return path if path.is_absolute() else self.base_dir / path


PACKAGE_TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
