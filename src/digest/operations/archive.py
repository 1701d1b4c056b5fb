"""The email as it was sent, for "view in browser": re-rendered from the delivery's stored items through the
same Composer and templates. Nothing is selected again, so the page shows the stories the reader was sent."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.models import CARRIED, DeliveryStatus
from digest.pipeline.compose import Composer, batch_context
from digest.pipeline.plan import edition_plans

SHOWN = (*CARRIED, DeliveryStatus.bounced)  # a message that went, or may have gone, out


@dataclass(frozen=True)
class ArchivedEmail:
    subject: str
    text: str
    html: str


def edition_key(slug: str) -> str:
    """The edition key of a URL slug: daily-2026-11-27 → daily:2026-11-27."""
    period, _, day = slug.partition("-")
    return f"{period}:{day}"


def archived_email(engine: Engine, settings: Settings, *, slug: str, subscriber_id: int) -> ArchivedEmail | None:
    """One subscriber's email of one edition, in HTML (also for text-format readers: it is a browser page)."""
    with store.read_session(engine) as session:
        found = store.deliveries.subscriber_delivery(session, edition_key=edition_key(slug), subscriber_id=subscriber_id)
        if found is None or found[1].status not in SHOWN or not found[1].variant_key:
            return None
        edition, delivery = found
        entries, subs = batch_context(session, [delivery])
    plan = edition_plans(settings, date.fromisoformat(edition.date), periods=(str(edition.period),))[0]
    composer = Composer(settings, replace(plan, cutoff=edition.cutoff_at))
    subject, text, html = composer.parts(sub=replace(subs[subscriber_id], format="html"), vkey=delivery.variant_key,
                                         entries=entries[delivery.variant_key], delivery_id=delivery.id)
    return ArchivedEmail(subject, text, html or "")
