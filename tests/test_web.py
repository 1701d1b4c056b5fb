"""The reader-facing pages over HTTP (Starlette's TestClient): RFC 8058 one-click unsubscribe with the exact request
Gmail sends, preferences, view in browser, click tracking, double opt-in, /events, and forged tokens."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import replace
from datetime import date, timedelta
from email import message_from_bytes, policy
from urllib.parse import urlsplit

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from digest import store
from digest.models import Delivery, Engagement, Subscriber, SubscriberStatus
from digest.pipeline import run_day
from digest.send import RecordingMailer
from digest.tokens import make_token
from digest.web import create_app
from tests.conftest import NOW
from tests.factories import seed

pytestmark = pytest.mark.store

EVENTS_TOKEN = "events-test-token"
BASE = "https://news.example.com/digest"  # [sender] base_url: the app answers under its path; paths below are relative


@pytest.fixture
def web_settings(settings):
    return replace(settings, events_token=EVENTS_TOKEN)


@pytest.fixture
def outbox(engine, web_settings):
    """Today's edition sent to three readers; returns the messages as sent, by recipient."""
    seed(engine, NOW, subscribers=3)
    mailer = RecordingMailer()
    asyncio.run(run_day(engine, web_settings, mailer, NOW.date(), clock=lambda: NOW))
    return {m.recipient: m for m in mailer.messages}


@pytest.fixture
def mailer():
    return RecordingMailer()


@pytest.fixture
def client(engine, web_settings, mailer):
    with TestClient(create_app(web_settings, engine, mailer=mailer, clock=lambda: NOW),
                    base_url=BASE, follow_redirects=False) as test_client:
        yield test_client


def altered(token: str) -> str:
    """`token` with its last character changed to another (a fixed letter would be the same one time in 64)."""
    return token[:-1] + ("B" if token.endswith("A") else "A")


def parsed(message):
    return message_from_bytes(message.data, policy=policy.default)


def one_click_path(message) -> str:
    """The path of the HTTPS URI in List-Unsubscribe, as a mailbox provider reads it."""
    https = re.search(r"<(https://[^>]+)>", str(parsed(message)["List-Unsubscribe"])).group(1)
    return "/" + urlsplit(https).path.split("/", 2)[2]  # base_url is https://news.example.com/digest


def html_part(message) -> str:
    return parsed(message).get_body(("html",)).get_content().replace("\r\n", "\n")  # as on the wire: CRLF


def status_of(engine, email: str) -> str:
    with store.read_session(engine) as session:
        return str(store.subscribers.find_subscriber(session, email=email).status)


def subscription_of(engine, email: str, newsletter: str = "digest") -> str | None:
    """The status of the reader's subscription to `newsletter` (None: they have none)."""
    with store.read_session(engine) as session:
        sub = store.subscribers.find_subscriber(session, email=email)
        row = store.subscriptions.find_subscription(session, subscriber_id=sub.id, newsletter=newsletter)
        return None if row is None else str(row.status)


def subscriber(engine, email: str) -> Subscriber:
    with store.read_session(engine) as session:
        return store.subscribers.find_subscriber(session, email=email)


def ident(settings, subscriber_id: int) -> str:
    """The identity the subscriber's tokens are bound to ("" when there is no such subscriber)."""
    engine = store.open_engine(settings.store.url)
    try:
        with store.read_session(engine) as session:
            return store.subscribers.subscriber_token_key(session, subscriber_id=subscriber_id) or ""
    finally:
        engine.dispose()


def token(settings, purpose: str, subscriber_id: int, extra: str = "") -> str:
    return make_token(settings.secret_key, purpose, subscriber_id, settings.sender.list_id, extra,
                      ident(settings, subscriber_id))


# ── one-click unsubscribe (RFC 8058) ────────────────────────────────────────────────────────────────

def test_the_exact_request_gmail_sends_unsubscribes_at_once(engine, client, outbox):
    path = one_click_path(outbox["reader1@example.com"])
    assert path.startswith("/u/")
    response = client.post(path, content=b"List-Unsubscribe=One-Click",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code in (200, 204)
    assert "set-cookie" not in response.headers and "location" not in response.headers
    assert not client.cookies
    # the link leaves its newsletter only: the reader's own status (and other newsletters) stay
    assert subscription_of(engine, "reader1@example.com") == "unsubscribed"
    assert status_of(engine, "reader1@example.com") == "active"
    assert subscription_of(engine, "reader2@example.com") == "active"


def test_one_click_is_idempotent_and_takes_any_body(engine, client, outbox):
    path = one_click_path(outbox["reader2@example.com"])
    form_urlencoded = {"Content-Type": "application/x-www-form-urlencoded"}
    bodies = [dict(content=b"List-Unsubscribe=One-Click", headers=form_urlencoded),
              dict(files={"List-Unsubscribe": (None, "One-Click")}),  # multipart/form-data
              dict(content=b""), dict()]
    for body in bodies:
        response = client.post(path, **body)
        assert response.status_code == 200, body
        assert "You are unsubscribed" in response.text
    assert subscription_of(engine, "reader2@example.com") == "unsubscribed"


def test_get_changes_nothing_and_its_button_posts(engine, client, outbox):
    path = one_click_path(outbox["reader1@example.com"])
    for _ in range(3):  # a mail scanner following the link
        page = client.get(path)
        assert page.status_code == 200
    assert status_of(engine, "reader1@example.com") == "active"
    assert subscription_of(engine, "reader1@example.com") == "active"
    assert re.search(r'<form method="post">\s*<button type="submit">Unsubscribe</button>', page.text)
    assert "reader1@example.com" not in page.text  # the page never shows whose token it is


def test_a_bounced_reader_is_not_made_unsubscribed(engine, client, outbox, web_settings):
    with store.session_scope(engine) as session:
        store.subscribers.find_subscriber(session, email="reader3@example.com").status = SubscriberStatus.bounced
    assert client.post(one_click_path(outbox["reader3@example.com"])).status_code == 200
    assert status_of(engine, "reader3@example.com") == "bounced"
    assert subscription_of(engine, "reader3@example.com") == "active"


# ── forged, tampered and foreign tokens ─────────────────────────────────────────────────────────────

def forged_tokens(settings, purpose: str, subscriber_id: int, extra: str) -> dict[str, str]:
    """Near misses of the genuine token for (purpose, subscriber, extra)."""
    body, mac = token(settings, purpose, subscriber_id, extra).split(".")
    return {
        "tampered mac": f"{body}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",
        "other subscriber, same mac": f"{token(settings, purpose, subscriber_id + 1, extra).split('.')[0]}.{mac}",
        "other purpose": token(settings, "preferences" if purpose == "unsubscribe" else "unsubscribe",
                               subscriber_id, extra),
        "other list": make_token(settings.secret_key, purpose, subscriber_id, "other.example.com", extra),
        "other key": make_token("another-key", purpose, subscriber_id, settings.sender.list_id, extra),
        "garbage": "not-a-token",
        "empty mac": f"{body}.",
        "huge": "A" * 5000 + "." + mac,
    }


@pytest.mark.parametrize("method, route, purpose, extra", [
    ("POST", "/u/{t}", "unsubscribe", ""), ("GET", "/u/{t}", "unsubscribe", ""),
    ("GET", "/p/{t}", "preferences", ""), ("POST", "/p/{t}", "preferences", ""),
    ("GET", "/archive/digest-2026-11-27/{t}", "archive", "digest-2026-11-27"),
    ("GET", "/c/{t}", "click", "1:1"), ("GET", "/confirm/{t}", "confirm", ""), ("POST", "/confirm/{t}", "confirm", ""),
])
def test_forged_tokens_are_404_and_change_nothing(engine, client, outbox, web_settings, method, route, purpose, extra):
    sub = subscriber(engine, "reader1@example.com")
    before = subscriber(engine, "reader1@example.com").model_dump()
    for name, forged in forged_tokens(web_settings, purpose, sub.id, extra).items():
        response = client.request(method, route.format(t=forged), data={"csrf": "x", "max_items": "3"})
        assert response.status_code == 404, (name, response.status_code)
        assert "@example.com" not in response.text and "Reader" not in response.text
    assert subscriber(engine, "reader1@example.com").model_dump() == before


def test_a_genuine_token_for_a_deleted_subscriber_is_404(engine, client, outbox, web_settings):
    sub_id = subscriber(engine, "reader1@example.com").id
    with store.session_scope(engine) as session:
        store.subscribers.delete_subscriber(session, email="reader1@example.com", now=NOW)
    assert client.post(f"/u/{token(web_settings, 'unsubscribe', sub_id)}").status_code == 404
    assert client.get(f"/p/{token(web_settings, 'preferences', sub_id)}").status_code == 404


# ── preference centre ───────────────────────────────────────────────────────────────────────────────

def preferences(client, web_settings, engine, email="reader1@example.com"):
    sub = subscriber(engine, email)
    path = f"/p/{token(web_settings, 'preferences', sub.id)}"
    page = client.get(path)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return path, page, csrf


def form(csrf: str, **changes) -> dict:
    values = {"csrf": csrf, "topics": ["science", "sport"], "countries": ["Japan"], "frequency": "weekly",
              "weekday": "fri", "send_at": "18:30", "timezone": "Europe/Berlin", "format": "text", "max_items": "5",
              "paused_until": ""}
    values.update(changes)
    return values


def test_preferences_page_offers_what_the_store_knows(engine, client, outbox, web_settings):
    _, page, _ = preferences(client, web_settings, engine)
    assert page.status_code == 200
    assert "reader1@example.com" in page.text  # the reader's own address, on their own page
    for topic in ("politics", "business", "sport", "science", "technology"):
        assert f'name="topics" value="{topic}"' in page.text
    for country in ("United States", "Germany", "Japan", "Brazil", "Kenya"):
        assert f'name="countries" value="{country}"' in page.text
    assert '<option selected>UTC</option>' in page.text and "<option>Europe/Berlin</option>" in page.text
    for field in ("send_at", "timezone", "max_items", "paused_until", "weekday"):
        assert f'<label for="{field}"' in page.text, field


def test_preferences_form_changes_the_store(engine, client, outbox, web_settings):
    path, _, csrf = preferences(client, web_settings, engine)
    response = client.post(path, data=form(csrf, paused_until="2026-12-24"))
    assert response.status_code == 200 and "Your preferences are saved" in response.text
    sub = subscriber(engine, "reader1@example.com")
    assert (sub.topics, sub.countries, sub.frequency, sub.weekday, sub.send_at, sub.timezone, sub.format,
            sub.max_items, sub.paused_until) == (["science", "sport"], ["Japan"], "weekly", "fri", "18:30",
                                                 "Europe/Berlin", "text", 5, date(2026, 12, 24))
    assert sub.status == "active" and subscriber(engine, "reader2@example.com").topics == []


def test_preferences_need_the_forms_csrf_token(engine, client, outbox, web_settings):
    path, _, csrf = preferences(client, web_settings, engine)
    other_path, _, other_csrf = preferences(client, web_settings, engine, "reader2@example.com")
    for bad in ({}, {"csrf": ""}, {"csrf": altered(csrf)}, {"csrf": other_csrf}):
        values = {k: v for k, v in form(csrf).items() if k != "csrf"} | bad
        assert client.post(path, data=values).status_code == 403
    assert subscriber(engine, "reader1@example.com").max_items == 10


@pytest.mark.parametrize("field, value, message", [
    ("max_items", "99", "max_items: must be between 1 and 50"),
    ("timezone", "Mars/Olympus", "timezone: unknown time zone"),
    ("send_at", "25:00", "send_at: expected HH:MM"),
    ("frequency", "hourly", "frequency: expected daily or weekly"),
    ("paused_until", "next week", "paused_until: expected a date"),
])
def test_bad_preference_values_save_nothing(engine, client, outbox, web_settings, field, value, message):
    path, _, csrf = preferences(client, web_settings, engine)
    response = client.post(path, data=form(csrf, **{field: value}))
    assert response.status_code == 400 and message in response.text and 'role="alert"' in response.text
    sub = subscriber(engine, "reader1@example.com")
    assert (sub.max_items, sub.frequency, sub.topics) == (10, "daily", [])


def test_unknown_topics_are_ignored_and_a_past_pause_is_no_pause(engine, client, outbox, web_settings):
    path, _, csrf = preferences(client, web_settings, engine)
    client.post(path, data=form(csrf, topics=["science", "<script>"], paused_until="2020-01-01"))
    sub = subscriber(engine, "reader1@example.com")
    assert sub.topics == ["science"] and sub.paused_until is None


# ── pausing ─────────────────────────────────────────────────────────────────────────────────────────

def test_a_paused_reader_is_not_planned_before_the_date(engine, web_settings, outbox):
    from digest.pipeline.plan import edition_plans, plan_edition

    with store.session_scope(engine) as session:
        store.subscribers.find_subscriber(session, email="reader1@example.com").paused_until = NOW.date() + timedelta(days=2)
        store.articles.upsert_articles(session, articles=[_article(i, NOW + timedelta(hours=20)) for i in range(200, 204)],
                              now=NOW)
    for days, planned in ((1, {"reader2@example.com", "reader3@example.com"}),
                          (2, {"reader1@example.com", "reader2@example.com", "reader3@example.com"})):
        plan = edition_plans(web_settings, (NOW + timedelta(days=days)).date())[0]
        edition_id, _ = plan_edition(engine, web_settings, plan, now=NOW)
        with store.read_session(engine) as session:
            ids = session.exec(select(Delivery.subscriber_id).where(Delivery.edition_id == edition_id)).all()
            assert {s.email for s in store.subscribers.subscribers_by_id(session, ids=ids).values()} == planned


def test_a_pause_set_after_planning_is_honoured_at_send_time(engine, web_settings, client):
    from digest.pipeline.plan import edition_plans, plan_edition

    seed(engine, NOW, subscribers=2)
    plan_edition(engine, web_settings, edition_plans(web_settings, NOW.date())[0], now=NOW)
    path, _, csrf = preferences(client, web_settings, engine)
    form_values = form(csrf, paused_until=(NOW.date() + timedelta(days=7)).isoformat(), frequency="daily")
    assert client.post(path, data=form_values).status_code == 200
    mailer = RecordingMailer()
    reports = asyncio.run(run_day(engine, web_settings, mailer, NOW.date(), clock=lambda: NOW))
    assert [m.recipient for m in mailer.messages] == ["reader2@example.com"]
    assert reports[0].counts == {"sent": 1, "skipped": 1}
    with store.read_session(engine) as session:
        errors = session.exec(select(Delivery.error).where(Delivery.status == "skipped")).all()
    assert errors == ["subscriber paused until 2026-12-04 at send time"]


HEADLINES = ["Harbour bridge reopens after repairs", "Orchestra announces winter season",
             "Glacier survey finds faster melting", "Chess prodigy wins national title", "New metro line opens"]


def _article(i, published):
    """A story unlike the seeded ones (so that same-event clustering keeps it apart)."""
    from tests.factories import article

    return article(i, published, title=HEADLINES[i % len(HEADLINES)] + f" ({i})", summary=f"Details, part {i}.")


# ── one module builds every reader URL (digest.urls) ─────────────────────────────────────────────────

def test_digest_urls_are_the_links_the_email_carries_and_the_app_answers(engine, client, outbox, web_settings):
    from digest import urls

    sub = subscriber(engine, "reader1@example.com")
    html = html_part(outbox["reader1@example.com"])
    built = [urls.unsubscribe_url(web_settings, sub.id, sub.token_key, newsletter="digest"),
             urls.preferences_url(web_settings, sub.id, sub.token_key),
             urls.archive_url(web_settings, sub.id, f"digest:{NOW.date()}", sub.token_key)]
    for url in built:
        assert url.startswith(f"{BASE}/") and f'href="{url}"' in html
        assert client.get(url[len(BASE):]).status_code == 200
    assert client.get(urls.preferences_url(web_settings, sub.id, "another-ident")[len(BASE):]).status_code == 404


# ── view in browser ─────────────────────────────────────────────────────────────────────────────────

def archive_path(message) -> str:
    url = re.search(r'href="(https://news\.example\.com/digest/archive/[^"]+)"', html_part(message)).group(1)
    return "/" + urlsplit(url).path.split("/", 2)[2]


def test_view_in_browser_shows_the_email_as_sent(engine, client, outbox):
    for message in outbox.values():
        page = client.get(archive_path(message))
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.text == html_part(message)


def test_view_in_browser_does_not_select_again(engine, client, outbox):
    """New, more popular articles after the send change nothing: the page comes from the stored items."""
    message = outbox["reader1@example.com"]
    with store.session_scope(engine) as session:
        store.articles.upsert_articles(session, articles=[_article(i, NOW - timedelta(hours=1)) for i in range(300, 305)],
                              now=NOW)
        fresh = store.articles.article_ids_by_url(session, urls=[f"https://news.example.com/a/{i}" for i in range(300, 305)])
        store.engagement.add_engagement(session, events=[(a, NOW - timedelta(hours=1), "share", 10_000) for a in fresh.values()])
    assert client.get(archive_path(message)).text == html_part(message)


def test_archive_token_is_bound_to_its_edition(engine, client, outbox, web_settings):
    sub = subscriber(engine, "reader1@example.com")
    good = token(web_settings, "archive", sub.id, "digest-2026-11-27")
    assert client.get(f"/archive/digest-2026-11-27/{good}").status_code == 200
    assert client.get(f"/archive/digest-2026-11-26/{good}").status_code == 404
    other = token(web_settings, "archive", sub.id, "digest-2026-11-26")  # genuine, but no such delivery
    assert client.get(f"/archive/digest-2026-11-26/{other}").status_code == 404


# ── click tracking ──────────────────────────────────────────────────────────────────────────────────

def test_click_tracking_is_off_by_default(engine, client, outbox, web_settings):
    html = html_part(outbox["reader1@example.com"])
    assert "/c/" not in html and "https://news.example.com/a/" in html
    delivery = _delivery(engine, "reader1@example.com")
    tok = token(web_settings, "click", delivery.subscriber_id, f"{delivery.id}:1")
    assert client.get(f"/c/{tok}").status_code == 404


@pytest.fixture
def tracking(web_settings):
    return replace(web_settings, web=replace(web_settings.web, click_tracking=True))


def _delivery(engine, email) -> Delivery:
    with store.read_session(engine) as session:
        sub = store.subscribers.find_subscriber(session, email=email)
        return session.exec(select(Delivery).where(Delivery.subscriber_id == sub.id)).first()


def test_click_tracking_redirects_only_to_links_of_that_email(engine, tracking, mailer):
    seed(engine, NOW, subscribers=2)
    sent = RecordingMailer()
    asyncio.run(run_day(engine, tracking, sent, NOW.date(), clock=lambda: NOW))
    assert len(sent.messages) == 2
    for message in sent.messages:  # the second reader shares the first one's rendered variant
        html, text = html_part(message), parsed(message).get_body(("plain",)).get_content()
        links = re.findall(r'href="https://news\.example\.com/digest(/c/[^"]+)"', html)
        assert links and "https://news.example.com/a/" not in html and "https://news.example.com/a/" not in text
        assert all(f"https://news.example.com/digest{link}" in text for link in set(links))
    message = next(m for m in sent.messages if m.recipient == "reader1@example.com")
    links = re.findall(r'href="https://news\.example\.com/digest(/c/[^"]+)"', html_part(message))
    with TestClient(create_app(tracking, engine, mailer=mailer, clock=lambda: NOW), base_url=BASE,
                    follow_redirects=False) as c:
        response = c.get(links[0])
        assert response.status_code == 302
        assert re.fullmatch(r"https://news\.example\.com/a/\d+", response.headers["location"])
        delivery = _delivery(engine, "reader1@example.com")
        other = _delivery(engine, "reader2@example.com")
        carried = store_article_ids(engine, delivery.id)
        not_carried = next(i for i in range(1, 100) if i not in carried)
        for forged in (token(tracking, "click", delivery.subscriber_id, f"{delivery.id}:{not_carried}"),
                       token(tracking, "click", delivery.subscriber_id, f"{other.id}:{min(carried)}"),
                       token(tracking, "click", delivery.subscriber_id, "x:y"),
                       altered(links[0].split("/")[-1])):
            assert c.get(f"/c/{forged}").status_code == 404
    with store.read_session(engine) as session:
        clicks = session.exec(select(Engagement).where(Engagement.kind == "click")).all()
    assert [(e.count, e.hour) for e in clicks] == [(1, NOW.replace(minute=0))]


def store_article_ids(engine, delivery_id) -> set[int]:
    with store.read_session(engine) as session:
        items = store.deliveries.delivery_items(session, delivery_ids=[delivery_id])[delivery_id]
    return {i.article_id for i in items} | {a for i in items for a in i.why.get("also", [])}


# ── double opt-in ───────────────────────────────────────────────────────────────────────────────────

def sign_up(client, **data):
    """POST /subscribe as a browser does: the form's CSRF token (and its cookie) from GET /subscribe first."""
    page = client.get("/subscribe")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    return client.post("/subscribe", data={"csrf": found.group(1) if found else "", **data})


def confirm_path(message) -> str:
    body = parsed(message).get_body(("plain",)).get_content()
    return re.search(r"https://news\.example\.com/digest(/confirm/\S+)", body).group(1)


def test_double_opt_in(engine, client, mailer):
    page = client.get("/subscribe")
    assert page.status_code == 200 and '<label for="email">' in page.text
    response = sign_up(client, email="New.Reader@Example.ORG", name="New Reader", source="homepage")
    assert response.status_code == 200 and "Check your inbox" in response.text
    sub = subscriber(engine, "New.Reader@example.org")
    assert (sub.status, sub.consent_at, sub.consent_source) == ("pending", None, "web:/subscribe homepage")
    [message] = mailer.messages
    email = parsed(message)
    assert message.recipient == "new.reader@example.org" and email["List-Unsubscribe-Post"]
    assert email["Subject"] == "Confirm your subscription to The Daily Digest"
    assert "Hi New," in email.get_body(("plain",)).get_content()
    path = confirm_path(message)
    for _ in range(2):  # scanners follow links: GET changes nothing
        assert "Confirm my subscription" in client.get(path).text
    assert subscriber(engine, "New.Reader@example.org").status == "pending"
    done = client.post(path)
    assert done.status_code == 200 and "You are subscribed" in done.text
    sub = subscriber(engine, "New.Reader@example.org")
    assert sub.status == "active" and sub.consent_at == NOW
    assert client.post(path).status_code == 200  # again: harmless
    preferences_link = re.search(r'href="\.\./p/([^"]+)"', done.text).group(1)
    assert client.get(f"/p/{preferences_link}").status_code == 200


def test_signing_up_reveals_nothing_and_sends_nothing_to_active_or_suppressed(engine, client, mailer, outbox):
    with store.session_scope(engine) as session:
        store.subscribers.find_subscriber(session, email="reader2@example.com").status = SubscriberStatus.bounced
        store.subscribers.find_subscriber(session, email="reader3@example.com").status = SubscriberStatus.unsubscribed
    new = sign_up(client, email="someone@example.net").text
    for email in ("reader1@example.com", "reader2@example.com", "reader3@example.com"):
        assert sign_up(client, email=email).text == new
    assert [m.recipient for m in mailer.messages] == ["someone@example.net"]
    assert [status_of(engine, f"reader{n}@example.com") for n in (1, 2, 3)] == ["active", "bounced", "unsubscribed"]


def test_a_pending_reader_gets_nothing_until_confirmed(engine, client, mailer, web_settings):
    seed(engine, NOW, subscribers=1)
    sign_up(client, email="pending@example.org")
    sent = RecordingMailer()
    asyncio.run(run_day(engine, web_settings, sent, NOW.date(), clock=lambda: NOW))
    assert [m.recipient for m in sent.messages] == ["reader1@example.com"]


def test_sign_up_form_errors_and_the_honeypot(engine, client, mailer):
    bad = sign_up(client, email="not an address")
    assert bad.status_code == 400 and 'role="alert"' in bad.text and 'aria-invalid="true"' in bad.text
    bot = sign_up(client, email="bot@example.org", website="http://spam.example")
    assert bot.status_code == 200 and "Check your inbox" in bot.text
    assert mailer.messages == []
    with store.read_session(engine) as session:
        assert store.subscribers.find_subscriber(session, email="bot@example.org") is None


def test_confirm_link_of_an_unsubscribed_reader_is_404(engine, client, outbox, web_settings):
    sub = subscriber(engine, "reader1@example.com")
    with store.session_scope(engine) as session:  # one-click leaves a newsletter; "leave all" sets the status
        store.subscribers.find_subscriber(session, email="reader1@example.com").status = SubscriberStatus.unsubscribed
    path = f"/confirm/{token(web_settings, 'confirm', sub.id, str(int(NOW.timestamp())))}"
    assert client.get(path).status_code == 404 and client.post(path).status_code == 404
    assert status_of(engine, "reader1@example.com") == "unsubscribed"


# ── /events, /healthz, headers ──────────────────────────────────────────────────────────────────────

def test_events_need_the_bearer_token(engine, client, outbox):
    body = json.dumps([{"url": "https://news.example.com/a/1", "kind": "view", "count": 3, "at": NOW.isoformat()}])
    assert client.post("/events", content=body).status_code == 401
    wrong = client.post("/events", content=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer")


def test_events_json_list_and_json_lines_go_into_hourly_buckets(engine, client, outbox):
    auth = {"Authorization": f"Bearer {EVENTS_TOKEN}"}
    at = NOW - timedelta(minutes=30)
    rows = [{"url": "https://news.example.com/a/1", "kind": "click", "count": 2, "at": at.isoformat()},
            {"article_id": 1, "kind": "click", "count": 1, "at": (at + timedelta(minutes=5)).isoformat()}]
    first = client.post("/events", content=json.dumps(rows), headers=auth)
    assert first.status_code == 200 and first.json() == {"events": 2, "buckets": 1}
    lines = "\n".join(json.dumps(r) for r in rows)
    assert client.post("/events", content=lines, headers=auth).json() == {"events": 2, "buckets": 1}
    with store.read_session(engine) as session:
        clicks = session.exec(select(Engagement).where(Engagement.kind == "click", Engagement.article_id == 1)).all()
    assert sum(e.count for e in clicks if e.hour == at.replace(minute=0, second=0)) == 6


def test_bad_events_store_nothing(engine, client, outbox):
    auth = {"Authorization": f"Bearer {EVENTS_TOKEN}"}
    with store.read_session(engine) as session:
        before = store.engagement.count_engagement(session)
    for body, needle in ((json.dumps([{"url": "https://news.example.com/a/1", "kind": "like", "at": NOW.isoformat()}]),
                          "body:1: kind"),
                         (json.dumps([{"url": "https://news.example.com/a/1", "kind": "view", "at": NOW.isoformat()},
                                      {"url": "https://elsewhere.example/x", "kind": "view", "at": NOW.isoformat()}]),
                          "body:2: no stored article"),
                         ("{not json", "body")):
        response = client.post("/events", content=body, headers=auth)
        assert response.status_code == 422 and needle in " ".join(response.json()["error"])
    with store.read_session(engine) as session:
        assert store.engagement.count_engagement(session) == before


def test_events_are_off_without_a_token(engine, settings):
    with TestClient(create_app(settings, engine, mailer=RecordingMailer()), base_url=BASE) as c:
        assert c.post("/events", content="[]", headers={"Authorization": "Bearer "}).status_code == 404


def test_healthz_and_security_headers(client, outbox):
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    for response in (health, client.get(one_click_path(outbox["reader1@example.com"])), client.get("/nowhere")):
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert "set-cookie" not in response.headers


def test_serve_needs_the_secret_key(engine, settings):
    from digest.errors import ConfigError

    with pytest.raises(ConfigError, match="DIGEST_SECRET_KEY"):
        create_app(replace(settings, secret_key=""), engine)
