"""The public archive (`/n/KEY/`, an edition's generic page, the Atom feed) over HTTP, after editions were sent for
real into aiosmtpd: what it lists, that its pages hold the stories and nothing of any reader's, the feed as a feed
reader parses it, and the 404s of a private newsletter, an unknown key or date."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy
from xml.etree import ElementTree as ET

import feedparser
import pytest
from starlette.testclient import TestClient

from digest import store
from digest.config.newsletters import Newsletter
from digest.models import Subscriber
from digest.operations.public_archive import PublicEdition, PublicNewsletter, PublicPage, feed_document
from digest.pipeline import run_day
from digest.send import RecordingMailer, SmtpMailer
from digest.web import create_app
from tests.conftest import NOW
from tests.factories import seed

pytestmark = pytest.mark.store

BASE = "https://news.example.com/digest"
THURSDAY, FRIDAY = NOW.date() - timedelta(days=1), NOW.date()  # 2026-11-26 (woche sends), 2026-11-27
READERS = [("alice.privat@example.com", "Alice Zwiebelmeyer"), ("bob.privat@example.com", "Bob Quastenhuber")]
WOCHE_READER = ("carla.privat@example.com", "Carla Wurzelbacher")  # reads the private newsletter only
WEEKLY_READER = ("dora.privat@example.com", "Dora Krautwickel")  # Morning Brief's weekly digest, on Fridays
PERSONAL = ("/u/", "/p/", "/c/", "/archive/", "bounces+", "privat", "Zwiebelmeyer", "Quastenhuber", "Wurzelbacher",
            "Krautwickel", "Alice", "Bob", "Carla", "Dora")
LISTED = [f"{BASE}/n/morning/weekly/2026-11-27", f"{BASE}/n/morning/2026-11-27", f"{BASE}/n/morning/2026-11-26"]


def letter(key: str, name: str, **kw) -> Newsletter:
    return Newsletter(key=key, name=name, list_id=f"{key}.news.example.com", from_name=name,
                      from_address=f"{key}@news.example.com", **kw)


@pytest.fixture
def archive_settings(smtp_settings):
    return replace(smtp_settings, configured_newsletters=(
        letter("morning", "Morning Brief", public_archive=True, description="The news before breakfast.",
               weekly_name="Morning Brief Weekly"),
        letter("woche", "Die Woche", schedule="weekly:thu", public_archive=False),
        letter("evening", "Evening Post", public_archive=True),  # public, nobody subscribed: no edition
        letter("abend", "Der Abend", public_archive=True, language="de")))  # its list page in German


async def _send(engine, settings, day) -> None:
    mailer = SmtpMailer(settings.smtp, local_hostname="news.example.com")
    clock = datetime.combine(day, NOW.timetz())
    try:
        await run_day(engine, settings, mailer, day, clock=lambda: clock)
    finally:
        await mailer.close()


@pytest.fixture
def sent(engine, archive_settings, smtpd):
    """Thursday's and Friday's editions sent into aiosmtpd (woche's on Thursday too); the messages."""
    seed(engine, NOW, subscribers=0)
    with store.session_scope(engine) as session:
        store.subscribers.upsert_subscribers(session, subscribers=[Subscriber(email=e, name=n) for e, n in READERS],
                                             now=NOW - timedelta(days=2), newsletters=("morning",))
        store.subscribers.upsert_subscribers(session, subscribers=[Subscriber(email=WOCHE_READER[0], name=WOCHE_READER[1])],
                                             now=NOW - timedelta(days=2), newsletters=("woche",))
        store.subscribers.upsert_subscribers(session, subscribers=[Subscriber(email=WEEKLY_READER[0], name=WEEKLY_READER[1],
                                                                              frequency="weekly", weekday="fri")],
                                             now=NOW - timedelta(days=2), newsletters=("morning",))
        store.editions.ensure_edition(session, key="morning:2026-11-25", period="daily", date="2026-11-25",
                                      cutoff_at=NOW - timedelta(days=2), now=NOW, newsletter="morning")  # never went out
    for day in (THURSDAY, FRIDAY):
        asyncio.run(_send(engine, archive_settings, day))
    return [message_from_bytes(m.data, policy=policy.default) for m in smtpd.handler.messages]


@pytest.fixture
def client(engine, archive_settings, sent):
    app = create_app(archive_settings, engine, mailer=RecordingMailer(), clock=lambda: NOW)
    with TestClient(app, base_url=BASE, follow_redirects=False) as test_client:
        yield test_client


def local(url: str) -> str:
    """An absolute URL of ours as the test client's path (base_url is https://news.example.com/digest)."""
    assert url.startswith(BASE + "/"), url
    return url[len(BASE):]


def tokens_in(messages) -> set[str]:
    """Every signed token the readers' emails carry (their links and the bounce address)."""
    found = set()
    for m in messages:
        body = m.get_body(("html",)).get_content() + m.get_body(("plain",)).get_content() + str(m)
        found |= set(re.findall(r"/(?:u|p|c|archive/[\w-]+)/([\w.~-]{20,})", body))
    return found


def assert_nothing_personal(body: str, messages) -> None:
    assert len(tokens_in(messages)) >= len(messages)  # the search finds the readers' tokens (so their absence counts)
    for needle in (*PERSONAL, *tokens_in(messages)):
        assert needle not in body, needle


def recipients(messages, list_name: str) -> list[str]:
    return sorted(str(m["To"].addresses[0].addr_spec) for m in messages if list_name in str(m["From"]))


def test_the_list_shows_the_editions_that_went_out_newest_first(client, sent):
    assert recipients(sent, "Morning Brief") == sorted([*2 * [e for e, _ in READERS], WEEKLY_READER[0]])
    assert recipients(sent, "Die Woche") == [WOCHE_READER[0]]
    page = client.get("/n/morning/")
    assert page.status_code == 200
    links = re.findall(r'href="([^"]+)"', page.text)
    editions = [link for link in links if re.search(r"/n/morning/(weekly/)?\d{4}-", link)]
    assert editions == LISTED  # newest first, the later-made first on one day; not 11-25: it never went out
    assert "Morning Brief" in page.text and "The news before breakfast." in page.text
    assert f"{BASE}/n/morning/feed.xml" in links and f"{BASE}/subscribe" in links
    assert_nothing_personal(page.text, sent)
    assert page.headers["cache-control"] == "public, max-age=300"
    assert "x-robots-tag" not in page.headers and 'name="robots"' not in page.text  # it may be indexed
    assert page.headers["referrer-policy"] == "no-referrer" and "content-security-policy" in page.headers
    redirect = client.get("/n/morning")
    assert redirect.status_code == 301 and redirect.headers["location"] == f"{BASE}/n/morning/"
    empty = client.get("/n/evening/")
    assert empty.status_code == 200 and "No edition has gone out yet." in empty.text
    german = client.get("/n/abend/")
    assert 'lang="de"' in german.text and "No edition has gone out yet." not in german.text


def test_an_edition_page_has_the_stories_and_nothing_personal(client, sent):
    page = client.get("/n/morning/2026-11-27")
    assert page.status_code == 200
    assert stories(page.text) == emailed_stories(sent, ", Fri 27 Nov")  # what every reader got
    assert "Hi, here is what you should not miss." in page.text
    assert_nothing_personal(page.text, sent)
    assert f'href="{BASE}/subscribe"' in page.text and f'href="{BASE}/n/morning/"' in page.text
    assert page.headers["cache-control"] == "public, max-age=300"
    thursday = client.get("/n/morning/2026-11-26")
    assert thursday.status_code == 200
    assert stories(thursday.text) == emailed_stories(sent, ", Thu 26 Nov") != stories(page.text)  # as of its own cutoff
    weekly = client.get("/n/morning/weekly/2026-11-27")
    assert weekly.status_code == 200 and "Morning Brief Weekly" in weekly.text
    assert stories(weekly.text) == emailed_stories(sent, "week to Fri 27 Nov", readers=1)
    assert_nothing_personal(weekly.text, sent)


def stories(html: str) -> set[str]:
    return set(re.findall(r"Story number \d+", html))


def emailed_stories(messages, day: str, readers: int = len(READERS)) -> set[str]:
    """The stories in the Morning Brief of `day` (its subject's end: "Thu 26 Nov", "week to Fri 27 Nov"), the
    same for every reader (none has preferences)."""
    emails = [m for m in messages if "Morning Brief" in str(m["From"]) and str(m["Subject"]).endswith(day)]
    assert len(emails) == readers
    found = {frozenset(stories(m.get_body(("html",)).get_content())) for m in emails}
    assert len(found) == 1 and next(iter(found))
    return set(next(iter(found)))


def test_the_feed_parses_with_absolute_links_and_nothing_personal(client, sent):
    answer = client.get("/n/morning/feed.xml")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/atom+xml; charset=utf-8"
    assert ET.fromstring(answer.content).tag == "{http://www.w3.org/2005/Atom}feed"  # well-formed, Atom's namespace
    feed = feedparser.parse(answer.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10" and feed.feed.title == "Morning Brief"
    assert {(link.rel, link.href) for link in feed.feed.links} == {("self", f"{BASE}/n/morning/feed.xml"),
                                                                   ("alternate", f"{BASE}/n/morning/")}
    assert [e.link for e in feed.entries] == LISTED
    assert [e.id for e in feed.entries] == [e.link for e in feed.entries]
    assert feed.entries[0].updated_parsed[:4] == (2026, 11, 27, 7)
    assert all("Morning Brief" in e.title and "Story number" in e.summary for e in feed.entries)
    assert_nothing_personal(answer.text, sent)
    for entry in feed.entries:
        assert client.get(local(entry.link)).status_code == 200


def test_a_private_newsletter_an_unknown_key_or_date_is_404(client, engine, sent):
    with store.read_session(engine) as session:
        assert store.editions.sent_edition(session, key="woche:2026-11-26") is not None  # it went out, yet is private
    for path in ("/n/woche/", "/n/woche", "/n/woche/2026-11-26", "/n/woche/feed.xml", "/n/nope/", "/n/nope",
                 "/n/nope/feed.xml", "/n/morning/2026-11-28", "/n/morning/2026-11-25", "/n/morning/2026-13-45",
                 "/n/morning/20261127", "/n/morning/weekly/2026-11-26", "/n/woche/weekly/2026-11-26",
                 "/n/morning/x/2026-11-27"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["cache-control"] == "no-store", path


def test_the_feed_escapes_what_it_is_given():
    about = PublicNewsletter("morning", "A & B <News>", "Fish & \"chips\"", f"{BASE}/n/morning/",
                             f"{BASE}/n/morning/feed.xml", f"{BASE}/subscribe")
    edition = PublicEdition("morning:2026-11-27", FRIDAY, "daily", "A & B <News> — 2026-11-27",
                            f"{BASE}/n/morning/2026-11-27?a=1&b=2", datetime(2026, 11, 27, 7, tzinfo=timezone.utc))
    page = PublicPage(edition, "<script>alert(1)</script> & more\x0b", "", "", ("Tom & Jerry", "1 < 2"))
    body = feed_document(about, [page])
    ET.fromstring(body)  # well-formed: the control character is gone, & and < are escaped
    feed = feedparser.parse(body)
    assert not feed.bozo
    assert feed.feed.title == "A & B <News>" and feed.feed.subtitle == 'Fish & "chips"'
    assert feed.entries[0].link == f"{BASE}/n/morning/2026-11-27?a=1&b=2"
    assert feed.entries[0].summary == "Tom & Jerry · 1 < 2"
    assert feed.entries[0].title == "<script>alert(1)</script> & more"  # text, as given
    assert b"<script>" not in body
