"""Send a day, or dry-run it: `digest send [--dry-run]`.

A real send checks the options, then hands the day to the configured backend (`operations.backends`): this
process sends, or the workers do. A dry run is the real send path on a scratch store (`pipeline.dryrun`):
it renders and builds everything a send would, writes nothing to the store and sends nothing; a store that
is not there is not created, a missing token key is replaced by a throwaway one (its links go nowhere).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy.engine import Engine

from digest.clock import Clock, now_utc
from digest.config import Settings
from digest.operations.backends import DaySend, SendOptions, backend_for
from digest.operations.common import (
    engine_for, require_newsletters, require_secret, require_subscribers, subscriber_emails,
)
from digest.pipeline import DryRunLine, EditionReport, dry_run_day


@dataclass(frozen=True)
class DryRun:
    """What `digest send --dry-run` found: each edition's report (the lines went to `on_line` as they came)."""

    day: date
    reports: list[EditionReport]


def send_day(settings: Settings, day: date, *, subscribers: Sequence[str] | None = None,
             options: SendOptions = SendOptions(), clock: Clock = now_utc, engine: Engine | None = None) -> DaySend:
    """Send (or resume) the editions due on `day`, to `subscribers` only if given; the backend decides where."""
    emails = subscriber_emails(subscribers)
    require_subscribers(settings, emails)
    require_secret(settings)
    require_newsletters(settings, options.newsletters)
    backend = backend_for(settings)
    options = replace(options, emails=emails)
    backend.check_send(options)
    return backend.send_day(engine or engine_for(settings), day, options, clock=clock)


def dry_run(settings: Settings, day: date, *, subscribers: Sequence[str] | None = None,
            on_line: Callable[[DryRunLine], None] = lambda line: None, clock: Clock = now_utc,
            engine: Engine | None = None, newsletters: Sequence[str] = ()) -> DryRun:
    """Everything a send of `day` would send, one `on_line` per reader; nothing written, nothing connected."""
    emails = subscriber_emails(subscribers)
    require_subscribers(settings, emails)
    require_newsletters(settings, newsletters)
    if not settings.secret_key:
        settings = replace(settings, secret_key=secrets.token_urlsafe(16))
    engine = engine or engine_for(settings, readonly=True)
    return DryRun(day, dry_run_day(engine, settings, day, clock=clock, emails=emails, on_line=on_line,
                                   newsletters=newsletters or None))
