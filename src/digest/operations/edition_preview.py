"""One reader's email of one edition exactly as it was built for them (the console's preview, admins only): the
"view in browser" page's rebuild (`operations.archive.archived_email`: the delivery's stored variant and
items through the same Composer and templates, nothing selected again), with its links disabled, so that
looking at it from the console neither counts a click as the reader's nor follows their unsubscribe link.
The links are kept, each in its anchor's `title` (shown on hover), and listed.
"""

from __future__ import annotations

import html as markup
import re
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.errors import InputError
from digest.operations.archive import archived_email
from digest.operations.common import engine_for
from digest.operations.edition_actions import find
from digest.urls import edition_slug

ANCHOR_HREF = re.compile(r'(<a\b[^>]*?\s)href="([^"]*)"', re.IGNORECASE)
MAX_EMAIL = 320


@dataclass(frozen=True)
class ReaderPreview:
    edition: str
    email: str
    status: str  # the delivery's
    variant: str | None
    subject: str
    html: str  # as built, its links disabled
    links: tuple[str, ...]  # the reader's real links, in the order they appear


def disable_links(page: str) -> tuple[str, tuple[str, ...]]:
    """Each `<a href="URL">` becomes `<a title="URL">` (no link): the page and the URLs, unescaped."""
    links: list[str] = []

    def swap(found: re.Match) -> str:
        links.append(markup.unescape(found.group(2)))
        return f'{found.group(1)}title="{found.group(2)}"'

    return ANCHOR_HREF.sub(swap, page), tuple(links)


def reader_preview(settings: Settings, key: str, email: str, *, engine: Engine | None = None) -> ReaderPreview:
    """The email `key` (key, slug or date) was built into for `email`; InputError (one line) when there is none."""
    from digest.ingest.subscribers import normalize_email

    try:
        address = normalize_email(email[:MAX_EMAIL])
    except ValueError as exc:
        raise InputError(f"email: {exc}") from None
    engine = engine or engine_for(settings, readonly=True)
    with store.read_session(engine) as session:
        edition = find(session, settings, key)
        reader = store.subscribers.find_subscriber(session, email=address)
        found = reader and store.deliveries.subscriber_delivery(session, edition_key=edition.key,
                                                                subscriber_id=reader.id)
        if not found:
            raise InputError(f"{address} has no delivery in {edition.key}")
        delivery = found[1]
    built = archived_email(engine, settings, slug=edition_slug(edition.key), subscriber_id=reader.id)
    if built is None:
        raise InputError(f"{address}'s delivery in {edition.key} is {delivery.status}: no email was built for it")
    page, links = disable_links(built.html)
    return ReaderPreview(edition.key, address, str(delivery.status), delivery.variant_key, built.subject, page, links)
