"""Composing one subscriber's message from a shared, once-rendered content variant."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from digest import store
from digest.config import Settings
from digest.errors import ConfigError
from digest.message import build_message, make_message_id
from digest.models import ArticleRecord, DeliveryItem, SubscriberRecord
from digest.pipeline.plan import EditionPlan
from digest.render import Entry, Personal, RenderedVariant, Renderer, build_content, personalize
from digest.select import Selection
from digest.send import OutgoingMessage
from digest.tokens import make_token


class Composer:
    """Builds each subscriber's message; renders (and inlines) each content variant only once."""

    def __init__(self, settings: Settings, plan: EditionPlan, renderer: Renderer | None = None) -> None:
        if not settings.secret_key:
            raise ConfigError("DIGEST_SECRET_KEY is not set: it signs the unsubscribe and preference links")
        self.settings = settings
        self.plan = plan
        self.renderer = renderer or Renderer(settings)
        self.variants: dict[str, RenderedVariant] = {}

    def compose(self, *, delivery_id: int, sub: SubscriberRecord, vkey: str, entries: Sequence[Entry],
                now: datetime) -> OutgoingMessage:
        subject, text, html = self.parts(sub=sub, vkey=vkey, entries=entries)
        links = self.links(sub.id)
        domain = self.settings.sender_domain
        message_id = make_message_id(domain, f"{self.plan.key}.{delivery_id}")
        data = build_message(sender=self.settings.sender, to_email=sub.email, to_name=sub.name, subject=subject,
                             text=text, html=html, unsubscribe_url=links["unsubscribe_url"],
                             unsubscribe_token=links["unsubscribe_url"].rsplit("/", 1)[1], message_id=message_id,
                             date=now)
        bounce = make_token(self.settings.secret_key, "bounce", delivery_id, self.settings.sender.list_id)
        return OutgoingMessage(f"bounces+{bounce}@{domain}", sub.email, message_id, data)

    def parts(self, *, sub: SubscriberRecord, vkey: str, entries: Sequence[Entry]) -> tuple[str, str, str | None]:
        """(subject, text, html) for one subscriber; the variant is rendered on first use only."""
        variant = self.variants.get(vkey)
        if variant is None:
            content = build_content(key=vkey, fmt=sub.format, edition_key=self.plan.key, period=self.plan.period,
                                    cutoff=self.plan.cutoff, entries=entries, tz=self.settings.tz, day=self.plan.day)
            variant = self.variants[vkey] = self.renderer.render_variant(content)
        text, html = personalize(variant, Personal(name=sub.name, **self.links(sub.id)))
        return variant.subject, text, html

    def links(self, subscriber_id: int) -> dict[str, str]:
        key, list_id, base = self.settings.secret_key, self.settings.sender.list_id, self.settings.sender.base_url
        slug = self.plan.key.replace(":", "-")
        return {
            "unsubscribe_url": f"{base.rstrip('/')}/u/{make_token(key, 'unsubscribe', subscriber_id, list_id)}",
            "preferences_url": f"{base.rstrip('/')}/p/{make_token(key, 'preferences', subscriber_id, list_id)}",
            "archive_url": f"{base.rstrip('/')}/archive/{slug}/"
                           f"{make_token(key, 'archive', subscriber_id, list_id, slug)}",
        }


def batch_context(session, deliveries) -> tuple[dict, dict, dict]:
    """Items, subscribers and articles (leads and "also covered by") for a batch of delivery rows."""
    items = store.delivery_items(session, delivery_ids=[d.id for d in deliveries])
    subs = store.subscribers_by_id(session, ids=[d.subscriber_id for d in deliveries])
    wanted = {i.article_id for rows in items.values() for i in rows}
    wanted |= {a for rows in items.values() for i in rows for a in i.why.get("also", [])}
    return items, subs, store.articles_by_id(session, ids=wanted)


def entries_from_items(items: Sequence[DeliveryItem], articles: Mapping[int, ArticleRecord]) -> list[Entry]:
    return [(i.section, articles[i.article_id], [articles[a] for a in i.why.get("also", []) if a in articles])
            for i in items]


def entries_from_selection(selection: Selection) -> list[Entry]:
    return [(p.section, p.entry.story.lead, list(p.entry.story.articles[1:4])) for p in selection.picks]
