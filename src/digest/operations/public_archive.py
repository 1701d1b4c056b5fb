"""The public archive of a newsletter with `public_archive = true`: its editions that went out, each edition's
generic version, and an Atom feed of them. Read-only; nothing is cached on disk.

An edition is listed once it went out: status `sending` or `done` with at least one delivery `sent` (an
edition whose every delivery was skipped, failed or is still queued is not). Its page is the email a reader with
no topic or country preferences and the default `max_items` (capped by the newsletter's) would get, selected
again by the planner as of the edition's cutoff, without anything sent before (a generic reader has no
history), and rendered through the Composer and the email templates with a generic greeting and public links:
the footer's "view in browser" names the archive, "preferences" and "unsubscribe" the sign-up page. No token,
no click tracking, no reader's name or address.

URLs (under `[sender] base_url`): `/n/KEY/` the list, `/n/KEY/YYYY-MM-DD` an edition (a weekly newsletter's
too), `/n/KEY/weekly/YYYY-MM-DD` a daily newsletter's weekly digest, `/n/KEY/feed.xml` the feed.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from xml.etree import ElementTree as ET

from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.config.newsletters import Newsletter
from digest.models import Edition, SubscriberRecord
from digest.operations.preview import default_reader
from digest.pipeline.compose import Composer, entries_from_selection
from digest.pipeline.plan import edition_controls, edition_ranking, select_subscriber
from digest.pipeline.run import plan_of
from digest.select import variant_key

ATOM = "http://www.w3.org/2005/Atom"
FEED_ENTRIES = 20  # the newest editions in the feed: each entry costs one ranking of its edition
HEADLINES = 3  # an entry's summary: its first headlines
DAY_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")  # no XML 1.0 document may hold these


@dataclass(frozen=True)
class PublicNewsletter:
    key: str
    name: str
    description: str
    url: str  # its archive page, absolute
    feed_url: str
    subscribe_url: str
    language: str = "en"


@dataclass(frozen=True)
class PublicEdition:
    key: str  # "morning:2026-11-27", "morning:weekly:2026-11-27"
    day: date
    period: str  # daily | weekly
    title: str  # "NAME — DATE"
    url: str  # its page, absolute
    updated: datetime  # when it finished going out (or started, while it still sends)


@dataclass(frozen=True)
class PublicPage:
    edition: PublicEdition
    subject: str
    text: str
    html: str
    headlines: tuple[str, ...]


def public_newsletter(settings: Settings, key: str) -> PublicNewsletter | None:
    """The newsletter `key` if it has a public archive; None if unknown or private."""
    letter = _public_letter(settings, key)
    if letter is None:
        return None
    base = _base(settings)
    url = f"{base}/n/{letter.key}/"
    return PublicNewsletter(letter.key, letter.name, letter.description, url, f"{url}feed.xml", f"{base}/subscribe",
                            letter.language)


def public_day(text: str) -> date | None:
    """A YYYY-MM-DD path segment as a date; None for anything else."""
    if not DAY_RE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def public_editions(engine: Engine, settings: Settings, key: str, *, limit: int | None = None
                    ) -> list[PublicEdition] | None:
    """The newsletter's editions that went out, newest first; None if it is unknown or has no public archive."""
    letter = _public_letter(settings, key)
    if letter is None:
        return None
    with store.read_session(engine) as session:
        rows = store.editions.sent_editions(session, newsletter=letter.key, limit=limit)
    return [_public(settings, letter, row) for row in rows]


def public_edition(engine: Engine, settings: Settings, key: str, day: date, period: str = "daily", *,
                   cache: PageCache | None = None) -> PublicPage | None:
    """One edition's generic version. `period` "weekly" is a daily newsletter's weekly digest (its
    `/weekly/` URL); a weekly or cron newsletter's editions are "daily" here. None when there is no such
    public edition (unknown or private newsletter, no edition that day, one that did not go out)."""
    letter = _public_letter(settings, key)
    if letter is None or period not in ("daily", "weekly") or (period == "weekly" and not letter.offers_weekly):
        return None
    with store.read_session(engine) as session:
        edition = store.editions.sent_edition(session, key=letter.edition_key(day, period))
        if edition is None:
            return None
        cache = PageCache() if cache is None else cache  # the web app's: an edition is ranked once per process
        return cache.get((edition.id, edition.finished_at or edition.started_at, "html"),
                         lambda: _page(session, settings, letter, edition, "html"))


def atom_feed(engine: Engine, settings: Settings, key: str, *, cache: PageCache | None = None) -> bytes | None:
    """The Atom 1.0 feed (RFC 4287) of the newest FEED_ENTRIES editions; None as `public_editions`.

    `cache` (the web app's, in memory) keeps each edition's entry: an edition's generic stories are fixed
    as of its cutoff, so one is ranked once per process, not on every poll of the feed."""
    about = public_newsletter(settings, key)
    if about is None:
        return None
    letter = settings.newsletter(about.key)
    cache = PageCache() if cache is None else cache
    with store.read_session(engine) as session:
        rows = store.editions.sent_editions(session, newsletter=letter.key, limit=FEED_ENTRIES)
        pages = [cache.get((row.id, row.finished_at or row.started_at, "text"), lambda row=row: _page(
            session, settings, letter, row, "text")) for row in rows]
    return feed_document(about, pages)


class PageCache:
    """The newest `size` generic pages by (edition id, when it finished): an edition still sending may change
    its time, so its entry is made again then."""

    def __init__(self, size: int = 256) -> None:
        self.size, self.pages = size, {}

    def get(self, key: tuple, make):
        if key not in self.pages:
            while len(self.pages) >= self.size:
                self.pages.pop(next(iter(self.pages)))
            self.pages[key] = make()
        return self.pages[key]


def feed_document(about: PublicNewsletter, pages: Sequence[PublicPage]) -> bytes:
    """The feed's XML, built with ElementTree (which escapes text and attributes)."""
    root = ET.Element("feed", {"xmlns": ATOM})
    _text(root, "id", about.url)
    _text(root, "title", about.name)
    if about.description:
        _text(root, "subtitle", about.description)
    newest = max((p.edition.updated for p in pages), default=datetime(1970, 1, 1, tzinfo=timezone.utc))
    _text(root, "updated", _rfc3339(newest))
    ET.SubElement(root, "link", {"rel": "self", "type": "application/atom+xml", "href": about.feed_url})
    ET.SubElement(root, "link", {"rel": "alternate", "type": "text/html", "href": about.url})
    _text(ET.SubElement(root, "author"), "name", about.name)
    for page in pages:
        entry = ET.SubElement(root, "entry")
        _text(entry, "id", page.edition.url)
        _text(entry, "title", page.subject or page.edition.title)
        _text(entry, "updated", _rfc3339(page.edition.updated))
        ET.SubElement(entry, "link", {"rel": "alternate", "type": "text/html", "href": page.edition.url})
        _text(entry, "summary", " · ".join(page.headlines) or page.edition.title, type="text")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _text(parent: ET.Element, tag: str, text: str, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    element.text = NOT_XML.sub("", text)
    return element


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


# ── one edition's generic version ───────────────────────────────────────────────────────────────────

class PublicComposer(Composer):
    """The Composer with public links in place of a reader's signed ones."""

    def __init__(self, settings: Settings, plan, public: dict[str, str], note: str = "") -> None:
        super().__init__(settings, plan, note=note)
        self.public = public

    def links(self, subscriber_id: int, ident: str = "") -> dict[str, str]:
        return dict(self.public)


def _page(session, settings: Settings, letter: Newsletter, edition: Edition, fmt: str) -> PublicPage:
    """The edition as a reader with no preferences and no history gets it, in `fmt` (html | text)."""
    if not settings.secret_key:  # the Composer insists on one; no link of a public page carries a token
        settings = replace(settings, secret_key=secrets.token_urlsafe(16))
    plan = plan_of(settings, edition)
    span = plan.cutoff - plan.window_start
    plan = replace(plan, cutoff=edition.cutoff_at, window_start=edition.cutoff_at - span)
    reader = generic_reader(settings, letter, fmt)
    controls = edition_controls(session, edition.key)
    ranking = edition_ranking(session, settings, plan, controls)
    _, selection = next(select_subscriber(session, settings, ranking, [reader], edition.id))
    about, public = public_newsletter(settings, letter.key), _public(settings, letter, edition)
    links = {"archive_url": about.url, "preferences_url": about.subscribe_url,
             "unsubscribe_url": about.subscribe_url}
    composer = PublicComposer(settings, plan, links, controls.note)
    subject, text, html = composer.parts(sub=reader, vkey=variant_key(fmt, selection.picks),
                                         entries=entries_from_selection(selection))
    headlines = tuple(p.entry.story.lead.title for p in selection.picks[:HEADLINES])
    return PublicPage(public, subject, text, html or "", headlines)


def generic_reader(settings: Settings, letter: Newsletter, fmt: str) -> SubscriberRecord:
    """No name, no address, no topics or countries, the default max_items (under the newsletter's cap)."""
    reader = default_reader(settings)
    cap = min(reader.max_items, letter.max_items) if letter.max_items else reader.max_items
    return replace(reader, name="", email="", format=fmt, max_items=cap)


def _public(settings: Settings, letter: Newsletter, edition: Edition) -> PublicEdition:
    weekly = ":weekly:" in edition.key  # a daily newsletter's weekly digest
    name = (letter.weekly_name or f"{letter.name} (weekly)") if weekly else letter.name
    url = f"{_base(settings)}/n/{letter.key}/{'weekly/' if weekly else ''}{edition.date}"
    updated = edition.finished_at or edition.started_at or edition.created_at
    return PublicEdition(edition.key, date.fromisoformat(edition.date), str(edition.period), f"{name} — {edition.date}",
                         url, updated)


def _public_letter(settings: Settings, key: str) -> Newsletter | None:
    letter = next((n for n in settings.newsletters if n.key == key), None)
    return letter if letter is not None and letter.public_archive else None


def _base(settings: Settings) -> str:
    return settings.sender.base_url.rstrip("/")
