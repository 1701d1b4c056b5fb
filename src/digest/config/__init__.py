"""Settings: built-in defaults, then `config.toml`, then `DIGEST_<SECTION>_<KEY>` variables.

Validated once at load; the result is frozen and passed down. Secrets (SMTP password, token key)
come only from the environment: a `password` or `secret_key` in the file is an error.

    sections   the settings, one frozen dataclass per `[section]`, with their defaults
    newsletters the `[[newsletters]]` tables (or the one newsletter of `[sender]`)
    values     the formats of single values: addresses, HH:MM times, the shipped languages
    load       reading the file and the environment, coercing each value to its default's type
    rules      what a valid configuration is (one line naming the key when it is not)
"""

from digest.config.load import load_settings
from digest.config.rules import cron_every
from digest.config.sections import (
    BouncesSettings, DkimSettings, FeedsSettings, LogSettings, RenderSettings, WorkersSettings, ScheduleSettings,
    SelectionSettings, SenderSettings, SendSettings, Settings, SmtpSettings, StoreSettings, WebSettings,
)
from digest.config.sections import WebhooksSettings
from digest.config.values import EMAIL_RE, LANGUAGES, parse_hhmm

__all__ = ["EMAIL_RE", "LANGUAGES", "BouncesSettings", "DkimSettings", "FeedsSettings", "LogSettings", "RenderSettings",
           "WorkersSettings", "ScheduleSettings", "SelectionSettings", "SenderSettings", "SendSettings", "Settings",
           "SmtpSettings", "StoreSettings", "WebSettings", "WebhooksSettings", "cron_every", "load_settings", "parse_hhmm"]
