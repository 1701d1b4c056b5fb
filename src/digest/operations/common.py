"""What the use cases share: the store's engine from the settings, the SMTP mailer, and the checks several
commands make (the token key is set, the named subscribers exist)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.errors import ConfigError, UsageError
from digest.send import Mailer

SIGNS_LINKS = "it signs the unsubscribe and preference links"


def engine_for(settings: Settings, *, readonly: bool = False) -> Engine:
    """The engine of `[store] url`; `readonly` never writes a byte (a new SQLite file gets its schema otherwise)."""
    return store.open_engine(settings.store.url, readonly=readonly)


def smtp_mailer(settings: Settings) -> Mailer:
    """The relay of `[smtp]`, greeting as the sender's domain: the mailer every real send uses."""
    from digest.send import SmtpMailer  # here: a preview, which sends nothing, does not load aiosmtplib

    return SmtpMailer(settings.smtp, local_hostname=settings.sender_domain)


def require_newsletters(settings: Settings, keys: Sequence[str]) -> None:
    """Each key a configured newsletter's; else one line naming the configured ones (ConfigError)."""
    for key in keys:
        settings.newsletter(key)


def require_secret(settings: Settings, why: str = SIGNS_LINKS) -> None:
    if not settings.secret_key:
        raise ConfigError(f"DIGEST_SECRET_KEY is not set: {why}")


def subscriber_emails(values: Sequence[str] | None, *, option: str = "--subscriber") -> list[str]:
    """The addresses given on the command line, normalised; a malformed one is a usage error (exit 2)."""
    if not values:
        return []
    from digest.ingest.subscribers import normalize_email

    try:
        return [normalize_email(v) for v in values]
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def require_subscribers(settings: Settings, emails: Sequence[str], *, option: str = "--subscriber") -> None:
    """Each address must be a stored subscriber: naming someone unknown is a usage error (exit 2)."""
    if not emails:
        return
    with store.read_session(engine_for(settings, readonly=True)) as session:
        for email in emails:
            if store.subscribers.find_subscriber(session, email=email) is None:
                raise UsageError(f"{option}: no subscriber {email!r} (see `digest subscribers list`)")
