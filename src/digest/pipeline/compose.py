"""Composing one subscriber's message from a shared, once-rendered content variant."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Container, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from digest import store
from digest.config import Settings
from digest.errors import ConfigError
from digest.message import build_message, dkim_key, make_message_id, qp_fill, sign
from digest.models import ArticleRecord, DeliveryItem, SubscriberRecord
from digest.pipeline.plan import EditionPlan
from digest.render import (Entry, Personal, RenderedVariant, Renderer, build_content, personal_values,
                           personalize)
from digest.select import Selection
from digest.send import OutgoingMessage
from digest.tokens import make_token
from digest.urls import archive_url, click_url, preferences_url, unsubscribe_url


class Composer:
    """Builds each subscriber's message; renders (and inlines) each content variant only once."""

    def __init__(self, settings: Settings, plan: EditionPlan, renderer: Renderer | None = None, *,
                 note: str = "") -> None:
        if not settings.secret_key:
            raise ConfigError("DIGEST_SECRET_KEY is not set: it signs the unsubscribe and preference links")
        self.settings = settings
        self.plan = plan
        self.note = note  # the editor's note (Markdown), the same in every variant
        self.newsletter = settings.newsletter(plan.newsletter)
        self.sender = self.newsletter.sender(settings.sender)  # its From, List-Id and names; links stay the install's
        self.renderer = renderer or Renderer(replace(settings, sender=self.sender), language=self.newsletter.language,
                                             brand={"logo_url": self.newsletter.logo_url,
                                                    "accent_color": self.newsletter.accent_color})
        self.variants: dict[str, RenderedVariant] = {}
        self._last_links: tuple[tuple[int, str] | None, dict[str, str]] = (None, {})
        self.dkim_key = dkim_key(settings) if settings.dkim.enabled else None
        self.article_urls: dict[str, dict[str, int]] = {}  # per variant: article URL → id, for click tracking

    def compose(self, *, delivery_id: int, sub: SubscriberRecord, vkey: str, entries: Sequence[Entry],
                now: datetime) -> OutgoingMessage:
        if self.settings.web.click_tracking:
            subject, text, html = self.parts(sub=sub, vkey=vkey, entries=entries, delivery_id=delivery_id)
        else:
            subject, text, html = self.encoded_parts(sub=sub, vkey=vkey, entries=entries)
        links = self.links(sub.id, sub.token_key)
        domain = self.settings.sender_domain
        message_id = make_message_id(domain, f"{self.plan.key}.{delivery_id}")
        data = build_message(sender=self.sender, to_email=sub.email, to_name=sub.name, subject=subject,
                             text=text, html=html, unsubscribe_url=links["unsubscribe_url"],
                             unsubscribe_token=links["unsubscribe_url"].rsplit("/", 1)[1], message_id=message_id,
                             date=now)
        data = sign(data, self.settings, key=self.dkim_key)
        bounce = make_token(self.settings.secret_key, "bounce", delivery_id, self.settings.sender.list_id,
                            ident=sub.token_key)
        return OutgoingMessage(f"bounces+{bounce}@{domain}", sub.email, message_id, data, vkey,
                               tuple(lead.id for _, lead, _ in entries))

    def encoded_parts(self, *, sub: SubscriberRecord, vkey: str, entries: Sequence[Entry]
                      ) -> tuple[str, bytes, bytes | None]:
        """(subject, text, html) with the bodies already quoted-printable: only the lines holding a
        subscriber's values are encoded per message; the rest once per variant."""
        variant = self._variant(sub, vkey, entries)
        text_values, html_values = personal_values(Personal(name=sub.name, **self.links(sub.id, sub.token_key)))
        html = qp_fill(variant.html, html_values) if variant.html is not None else None
        return variant.subject, qp_fill(variant.text, text_values), html

    def _variant(self, sub: SubscriberRecord, vkey: str, entries: Sequence[Entry]) -> RenderedVariant:
        variant = self.variants.get(vkey)
        if variant is None:
            content = build_content(key=vkey, fmt=sub.format, edition_key=self.plan.key, period=self.plan.period,
                                    cutoff=self.plan.cutoff, entries=entries, tz=self.settings.tz, day=self.plan.day,
                                    note=self.note)
            variant = self.variants[vkey] = self.renderer.render_variant(content)
            self.article_urls[vkey] = {a.url: a.id for _, lead, also in entries for a in (lead, *also)}
        return variant

    def parts(self, *, sub: SubscriberRecord, vkey: str, entries: Sequence[Entry], delivery_id: int | None = None
              ) -> tuple[str, str, str | None]:
        """(subject, text, html) for one subscriber; the variant is rendered on first use only.

        With `[web] click_tracking` and a delivery, item links go through /c/ (see `track_clicks`).
        """
        variant = self._variant(sub, vkey, entries)
        text, html = personalize(variant, Personal(name=sub.name, **self.links(sub.id, sub.token_key)))
        if self.settings.web.click_tracking and delivery_id is not None:
            text, html = track_clicks(text, html, self.click_targets(sub, delivery_id, self.article_urls[vkey]))
        return variant.subject, text, html

    def click_targets(self, sub: SubscriberRecord, delivery_id: int, articles: Mapping[str, int]) -> dict[str, str]:
        """article URL → its /c/ URL; the token names the delivery and the article, never the URL."""
        return {url: click_url(self.settings, sub.id, delivery_id, aid, sub.token_key) for url, aid in articles.items()}

    def links(self, subscriber_id: int, ident: str = "") -> dict[str, str]:
        """The subscriber's signed links, bound to their identity (the last subscriber's are kept: compose asks
        twice)."""
        if self._last_links[0] == (subscriber_id, ident):
            return self._last_links[1]
        links = {
            "unsubscribe_url": unsubscribe_url(self.settings, subscriber_id, ident, newsletter=self.newsletter.key),
            "preferences_url": preferences_url(self.settings, subscriber_id, ident),
            "archive_url": archive_url(self.settings, subscriber_id, self.plan.key, ident),
        }
        self._last_links = ((subscriber_id, ident), links)
        return links


HREF = re.compile(r"""href=(["'])(.*?)\1""")
TEXT_LINK = re.compile(r"(?m)(?<=: )(\S+)$")  # "Read: URL", "Also covered by X: URL" in the text part


def track_clicks(text: str, html: str | None, targets: Mapping[str, str]) -> tuple[str, str | None]:
    """The item links replaced by their tracking URLs: exact matches only, every other link untouched."""
    def href(match: re.Match) -> str:
        url = targets.get(html_lib.unescape(match[2]))
        return f'href="{html_lib.escape(url)}"' if url else match[0]

    text = TEXT_LINK.sub(lambda m: targets.get(m[1], m[1]), text)
    return text, (HREF.sub(href, html) if html is not None else None)


def batch_context(session, deliveries, known: Container[str] = ()) -> tuple[dict[str, list[Entry]], dict]:
    """What a batch needs: the entries of each variant not rendered yet (from one delivery carrying it,
    since all deliveries of a variant carry the same items), and the subscribers."""
    representative = {}
    for d in deliveries:
        if d.variant_key not in known:
            representative.setdefault(d.variant_key, d.id)
    items = store.deliveries.delivery_items(session, delivery_ids=list(representative.values()))
    wanted = {i.article_id for rows in items.values() for i in rows}
    wanted |= {a for rows in items.values() for i in rows for a in i.why.get("also", [])}
    articles = store.articles.articles_by_id(session, ids=wanted)
    entries = {vkey: entries_from_items(items.get(did, []), articles) for vkey, did in representative.items()}
    return entries, store.subscribers.subscribers_by_id(session, ids=[d.subscriber_id for d in deliveries])


def entries_from_items(items: Sequence[DeliveryItem], articles: Mapping[int, ArticleRecord]) -> list[Entry]:
    return [(i.section, articles[i.article_id], [articles[a] for a in i.why.get("also", []) if a in articles])
            for i in items]


def entries_from_selection(selection: Selection) -> list[Entry]:
    return [(p.section, p.entry.story.lead, list(p.entry.story.also)) for p in selection.picks]
