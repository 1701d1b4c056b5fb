"""The email as it was sent, for "view in browser": re-rendered from the delivery's stored items through the
same Composer and templates. Nothing is selected again, so the page shows the stories the reader was sent."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.models import CARRIED, DeliveryStatus
from digest.pipeline.compose import Composer, batch_context
from digest.config.newsletters import DEFAULT_KEY
from digest.pipeline.plan import edition_controls
from digest.pipeline.run import plan_of

SHOWN = (*CARRIED, DeliveryStatus.bounced)  # a message that went, or may have gone, out


@dataclass(frozen=True)
class ArchivedEmail:
    subject: str
    text: str
    html: str


def edition_key(slug: str, default: str = DEFAULT_KEY) -> str:
    """The edition key of a URL slug: morning-2026-11-27 → morning:2026-11-27, morning-weekly-2026-11-27 →
    morning:weekly:2026-11-27; the slugs of links made before newsletters (daily-…, weekly-…) name the
    `default` newsletter's editions, which revision 0006 renamed."""
    head, _, rest = slug.partition("-")
    if head in ("daily", "weekly"):
        return f"{default}:weekly:{rest}" if head == "weekly" else f"{default}:{rest}"
    if rest.startswith("weekly-"):
        return f"{head}:weekly:{rest[len('weekly-'):]}"
    return f"{head}:{rest}"


def archived_email(engine: Engine, settings: Settings, *, slug: str, subscriber_id: int) -> ArchivedEmail | None:
    """One subscriber's email of one edition, in HTML (also for text-format readers: it is a browser page)."""
    with store.read_session(engine) as session:
        key = edition_key(slug, settings.newsletter().key)
        found = store.deliveries.subscriber_delivery(session, edition_key=key, subscriber_id=subscriber_id)
        if found is None or found[1].status not in SHOWN or not found[1].variant_key:
            return None
        edition, delivery = found
        entries, subs = batch_context(session, [delivery])
        note = edition_controls(session, key).note
    plan = plan_of(settings, edition)
    composer = Composer(settings, replace(plan, cutoff=edition.cutoff_at), note=note)
    subject, text, html = composer.parts(sub=replace(subs[subscriber_id], format="html"), vkey=delivery.variant_key,
                                         entries=entries[delivery.variant_key], delivery_id=delivery.id)
    return ArchivedEmail(subject, text, html or "")
