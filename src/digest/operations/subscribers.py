"""Subscribers: add (or update) one, import a CSV, list, remove (suppressed, history kept), erase (forgotten).

An address that unsubscribed, bounced, complained, was removed or erased stays suppressed unless the operator
re-adds it with the reader's consent (`consent`, recorded as the source). Topics nobody writes about are
warned about through `warn`, one line each, and counted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.errors import InputError
from digest.ingest.subscribers import (
    load_subscribers, newsletter_keys, normalize_email, subscriber_row, unknown_topic_warnings,
)
from digest.lock import exclusive
from digest.models import PREFERENCES, Subscriber, Subscription
from digest.operations.common import engine_for

Warn = Callable[[str], None]
CHUNK = 5000


@dataclass(frozen=True)
class AddReport:
    email: str
    verb: str  # added, updated or resubscribed


@dataclass(frozen=True)
class Removal:
    email: str
    before: str  # the status they had; "removed" if they already were


@dataclass(frozen=True)
class Erasure:
    email: str
    deliveries: int  # deleted with them; -1 when no subscriber had the address


@dataclass
class ImportReport:
    """`digest subscribers import`: rows read and what became of them; `consent` when re-adding was allowed."""

    total: int
    consent: str | None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(store.subscribers.UPSERT_COUNTS, 0))
    unknown_topics: int = 0

    def summary(self) -> str:
        c = self.counts
        line = f"imported {self.total} subscribers: {c['new']} new, {c['updated']} updated"
        if self.consent is not None:
            line += f", {c['resubscribed']} resubscribed ({self.consent})"
        else:
            line += (f", {c['suppressed']} left suppressed (unsubscribed, bounced, complained, removed or erased;"
                     " --resubscribe --consent-source TEXT re-adds them)" if c["suppressed"] else
                     ", 0 left suppressed")
        if self.unknown_topics:
            line += f"; {self.unknown_topics} with unknown topics (see the warnings)"
        return line


def defaults(settings: Settings) -> dict:
    """What a subscriber row leaves out: the default send time, time zone and number of stories."""
    return {"send_at": settings.schedule.send_at, "timezone": settings.schedule.timezone,
            "max_items": settings.selection.max_items}


def _warn_unknown_topics(session, source: str, rows, warn: Warn) -> int:
    if not any(row.topics for row in rows):
        return 0
    known, _ = store.articles.known_topics_and_countries(session)
    if not known:
        return 0  # no articles yet: nothing to check the topics against
    warnings = unknown_topic_warnings(source, rows, known)
    for line in warnings:
        warn(line)
    return len(warnings)


def add_subscriber(settings: Settings, values: Mapping[str, object], *, now: datetime, consent: str | None = None,
                   warn: Warn = lambda line: None, engine: Engine | None = None,
                   newsletters: Sequence[str] = ()) -> AddReport:
    """Add a subscriber or update an existing one's preferences, subscribed to `newsletters` (keys; default the
    first); a suppressed address is an error, left as is."""
    try:
        sub = subscriber_row(values, defaults=defaults(settings))
        keys = newsletter_keys(";".join(newsletters), [n.key for n in settings.newsletters])
    except ValueError as exc:
        raise InputError(f"subscriber {values['email']!r}: {exc}") from None
    with store.session_scope(engine or engine_for(settings)) as session:
        reason = store.subscribers.is_suppressed(session, email=sub.email)
        counts = store.subscribers.upsert_subscribers(session, subscribers=[sub], now=now, resubscribe=consent,
                                                      newsletters=keys or (settings.newsletter().key,),
                                                      source="operator")
        _warn_unknown_topics(session, "--topics", [sub], warn)
    if counts["suppressed"]:
        raise InputError(f"{sub.email} is {reason}: left suppressed; re-adding needs the reader's consent "
                         "(--resubscribe --consent-source TEXT)")
    return AddReport(sub.email, "resubscribed" if counts["resubscribed"] else "added" if counts["new"] else "updated")


def import_subscribers(settings: Settings, path: Path, *, now: datetime, consent: str | None = None,
                       warn: Warn = lambda line: None, engine: Engine | None = None) -> ImportReport:
    """Upsert by email from a CSV in one transaction (all rows or none); a bad row rejects the file."""
    rows = load_subscribers(path, defaults=defaults(settings), newsletters=[n.key for n in settings.newsletters])
    report = ImportReport(len(rows), consent)
    first = (settings.newsletter().key,)
    with store.session_scope(engine or engine_for(settings)) as session:
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start:start + CHUNK]
            for key, n in store.subscribers.upsert_subscribers(
                    session, subscribers=chunk, now=now, resubscribe=consent, source=f"import {path.name}",
                    newsletters={r.email: r.newsletters or first for r in chunk}).items():
                report.counts[key] += n
        report.unknown_topics = _warn_unknown_topics(session, str(path), rows, warn)
    return report


@dataclass(frozen=True)
class Listed:
    """A subscriber and their subscriptions (by newsletter key)."""

    subscriber: Subscriber
    subscriptions: list[Subscription]

    def doc(self, keys: Sequence[str]) -> dict:
        """`subscribers list --json`: the reader's fields, then `subscriptions`: [{newsletter, status, ...}],
        with each subscription's own preferences (null: the reader's)."""
        doc = {k: getattr(self.subscriber, k) for k in keys}
        doc["subscriptions"] = [{"newsletter": x.newsletter, "status": str(x.status),
                                 **{k: getattr(x, k) for k in PREFERENCES}, "since": x.created_at}
                                for x in self.subscriptions]
        return doc


def list_subscribers(settings: Settings, *, engine: Engine | None = None) -> list[Listed]:
    with store.read_session(engine or engine_for(settings, readonly=True)) as session:
        subs = store.subscribers.list_subscribers(session)
        found = store.subscriptions.subscriptions_of(session, subscriber_ids=[s.id for s in subs])
    return [Listed(s, found.get(s.id, [])) for s in subs]


def address(email: str) -> str:
    """The normalised address; a malformed one is one line (exit 1)."""
    try:
        return normalize_email(email)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def remove_subscriber(settings: Settings, email: str, *, now: datetime, engine: Engine | None = None) -> Removal:
    """Stop mailing them for good (history kept, address suppressed)."""
    email = address(email)
    engine = engine or engine_for(settings)
    with exclusive(engine, "sender", wait=settings.send.lock_wait_seconds):  # never while a batch is in flight
        with store.session_scope(engine) as session:
            before = store.subscribers.delete_subscriber(session, email=email, now=now)
            if before in ("active", "pending"):
                store.webhooks.emit_subscriber(session, type="subscriber.unsubscribed", email=email, now=now,
                                               newsletter=None, source="removed")
    if before is None:
        raise InputError(f"no subscriber {email}")
    return Removal(email, before)


def erase_subscriber(settings: Settings, email: str, *, now: datetime, engine: Engine | None = None) -> Erasure:
    """Forget them (GDPR erasure): row, deliveries and items deleted; only a hash of the address stays."""
    email = address(email)
    engine = engine or engine_for(settings)
    with exclusive(engine, "sender", wait=settings.send.lock_wait_seconds):
        with store.session_scope(engine) as session:
            deleted = store.subscribers.erase_subscriber(session, email=email, now=now)
    return Erasure(email, deleted)
