"""`digest preview`: one subscriber's email (or a default reader's) for one date, from a read-only store.
Touches no table; a missing token key is replaced by a throwaway one (the links go nowhere)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.errors import DigestError, InputError
from digest.models import SubscriberRecord
from digest.operations.common import engine_for, require_subscribers
from digest.pipeline.compose import Composer, entries_from_selection
from digest.pipeline.plan import edition_controls, edition_plan, edition_ranking, select_subscriber
from digest.select import Selection, variant_key


@dataclass(frozen=True)
class PreviewResult:
    edition: str
    subscriber: SubscriberRecord
    selection: Selection
    subject: str
    text: str
    html: str | None
    eml: bytes

    def as_format(self, fmt: str) -> str | bytes:
        if fmt == "eml":
            return self.eml
        if fmt == "text":
            return self.text
        if fmt == "json":
            return json.dumps(self.explain(), indent=2, ensure_ascii=False) + "\n"
        if self.html is None:
            raise DigestError(f"{self.subscriber.email} reads the text format; use --format text")
        return self.html

    def explain(self) -> dict:
        return {
            "edition": self.edition, "subscriber": self.subscriber.email, "subject": self.subject,
            "items": [{"section": p.section, "title": p.entry.story.lead.title, "url": p.entry.story.lead.url,
                       "source": p.entry.story.lead.source, "story": p.entry.story.key, "why": p.why()}
                      for p in self.selection.picks],
        }


def default_reader(settings: Settings) -> SubscriberRecord:
    return SubscriberRecord(id=0, email="reader@example.com", name="Reader", max_items=settings.selection.max_items,
                            timezone=settings.schedule.timezone)


def preview(settings: Settings, day: date, *, email: str | None, now: datetime, newsletter: str | None = None,
            engine: Engine | None = None) -> PreviewResult:
    """`digest preview`: an unknown `--subscriber` is a usage error (exit 2); `email` None is a default reader;
    `newsletter` a key (default: the first newsletter)."""
    require_subscribers(settings, [email.strip()] if email is not None else [])
    letter = settings.newsletter(newsletter)
    return render_preview(engine or engine_for(settings, readonly=True), settings, day, email=email, now=now,
                          newsletter=letter.key)


def render_preview(engine: Engine, settings: Settings, day: date, *, email: str | None, now: datetime,
                   newsletter: str | None = None) -> PreviewResult:
    """The email of `newsletter` (default: the first) for that reader on `day`, whether or not its schedule
    has an edition that day."""
    if not settings.secret_key:
        settings = replace(settings, secret_key=secrets.token_urlsafe(16))  # links in a preview go nowhere
    letter = settings.newsletter(newsletter)
    with store.read_session(engine) as session:
        sub = _subscriber(session, settings, email, letter.key)
        period = sub.frequency if letter.offers_weekly else ("weekly" if letter.kind == "weekly" else "daily")
        plan = edition_plan(settings, letter.key, day, period)
        edition = store.editions.find_edition(session, key=plan.key)
        controls = edition_controls(session, plan.key)
        ranking = edition_ranking(session, settings, plan, controls)
        _, selection = next(select_subscriber(session, settings, ranking, [sub], edition.id if edition else None,
                                                newsletter=plan.newsletter))
    if selection.skip_reason:
        raise DigestError(f"nothing to preview for {sub.email} on {day}: {selection.skip_reason}")
    composer = Composer(settings, plan, note=controls.note)
    entries = entries_from_selection(selection)
    vkey = variant_key(sub.format, selection.picks)
    subject, text, html = composer.parts(sub=sub, vkey=vkey, entries=entries)
    message = composer.compose(delivery_id=0, sub=sub, vkey=vkey, entries=entries, now=now)
    return PreviewResult(plan.key, sub, selection, subject, text, html, message.data)


def _subscriber(session, settings: Settings, email: str | None, newsletter: str) -> SubscriberRecord:
    if email is None:
        return default_reader(settings)
    from digest.ingest.subscribers import normalize_email

    try:
        found = store.subscribers.find_subscriber(session, email=normalize_email(email))
    except ValueError:
        found = None
    if found is None:
        raise InputError(f"--subscriber: no subscriber {email!r}")
    return store.subscriptions.reader_record(session, subscriber_id=found.id, newsletter=newsletter)
