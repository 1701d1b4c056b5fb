"""The reader's pages behave: served under the path of `[sender] base_url` (and at the root when it has none),
no slash redirect built from the Host header, resubscribing from the preference centre and an undo on the
"you are unsubscribed" page, a bad time zone is a 400, and a 500 carries the security headers."""

from __future__ import annotations

import re
from dataclasses import replace
from urllib.parse import urljoin

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from digest import store
from digest.send import RecordingMailer
from digest.tokens import make_token
from digest.web import create_app
from tests.conftest import NOW
from tests.factories import seed

pytestmark = pytest.mark.store


def with_base(settings, base_url: str):
    return replace(settings, sender=replace(settings.sender, base_url=base_url))


def app_client(settings, engine, **kw) -> TestClient:
    return TestClient(create_app(settings, engine, mailer=RecordingMailer(), clock=lambda: NOW),
                      base_url="https://news.example.com", follow_redirects=False, **kw)


def token(settings, engine, purpose: str, subscriber_id: int) -> str:
    with store.read_session(engine) as session:
        ident = store.subscribers.subscriber_token_key(session, subscriber_id=subscriber_id) or ""
    return make_token(settings.secret_key, purpose, subscriber_id, settings.sender.list_id, ident=ident)


def reader(engine, email="reader1@example.com"):
    with store.read_session(engine) as session:
        return store.subscribers.find_subscriber(session, email=email)


def subscription(engine, email="reader1@example.com", newsletter="digest") -> str:
    """The status of the reader's subscription (one-click leaves it; the person's status stays)."""
    with store.read_session(engine) as session:
        row = store.subscriptions.find_subscription(session, subscriber_id=reader(engine, email).id,
                                                    newsletter=newsletter)
        return str(row.status)


@pytest.fixture
def readers(engine):
    seed(engine, NOW, subscribers=2)
    return reader(engine).id


def test_the_links_in_the_emails_answer_where_they_point(engine, settings, readers):
    """base_url https://news.example.com/digest: the full path the email carries, one-click unsubscribe included."""
    assert settings.sender.base_url == "https://news.example.com/digest"
    unsubscribe = f"https://news.example.com/digest/u/{token(settings, engine, 'unsubscribe', readers)}"
    with app_client(settings, engine) as client:
        assert client.get(f"https://news.example.com/digest/p/{token(settings, engine, 'preferences', readers)}"
                          ).status_code == 200
        assert client.get("https://news.example.com/digest/subscribe").status_code == 200
        assert client.get("/healthz").status_code == 200 and client.get("/digest/healthz").status_code == 200
        assert client.get(unsubscribe.replace("/digest", "")).status_code == 404  # one spelling: the emails'
        response = client.post(unsubscribe, content=b"List-Unsubscribe=One-Click",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200 and subscription(engine) == "unsubscribed"


def test_without_a_path_the_pages_answer_at_the_root(engine, settings, readers):
    root = with_base(settings, "https://news.example.com")
    with app_client(root, engine) as client:
        assert client.get(f"/p/{token(root, engine, 'preferences', readers)}").status_code == 200
        assert client.post(f"/u/{token(root, engine, 'unsubscribe', readers)}").status_code == 200
    assert subscription(engine) == "unsubscribed"


@pytest.mark.parametrize("base_url", ["https://news.example.com/digest", "https://news.example.com",
                                      "https://news.example.com/digest/"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_trailing_slash_is_a_404_never_a_redirect_to_the_host_header(engine, settings, readers, base_url,
                                                                       method):
    configured = with_base(settings, base_url)
    prefix = base_url.removeprefix("https://news.example.com").rstrip("/")
    with app_client(configured, engine) as client:
        for purpose in ("unsubscribe", "preferences"):
            path = f"{prefix}/{purpose[0]}/{token(configured, engine, purpose, readers)}/"
            response = client.request(method, f"http://evil.example{path}", headers={"Host": "evil.example"})
            assert response.status_code == 404, (path, response.status_code)
            assert "location" not in response.headers
        assert client.get(f"http://evil.example{prefix}/subscribe/").status_code == 404
    assert reader(engine).status == "active"


def preferences(client, settings, engine, subscriber_id):
    path = f"/digest/p/{token(settings, engine, 'preferences', subscriber_id)}"
    page = client.get(path)
    return path, page, re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def test_an_unsubscribed_reader_resubscribes_from_the_preference_centre(engine, settings, readers):
    with app_client(settings, engine) as client:
        path, page, csrf = preferences(client, settings, engine, readers)
        client.post(path, data={"csrf": csrf, "action": "leave-all"})  # one-click leaves a newsletter only
        path, page, csrf = preferences(client, settings, engine, readers)
        assert "You are unsubscribed" in page.text and ">Resubscribe</button>" in page.text
        saved = client.post(path, data={"csrf": csrf, "frequency": "daily", "send_at": "08:00", "timezone": "UTC",
                                         "format": "html", "max_items": "4"})
        assert saved.status_code == 200 and "still unsubscribed" in saved.text
        assert "Your preferences are saved." not in saved.text
        assert (reader(engine).status, reader(engine).max_items) == ("unsubscribed", 4)
        again = client.post(path, data={"csrf": csrf, "action": "resubscribe"})
        assert again.status_code == 200 and "subscribed again" in again.text
        forged = client.post(f"/digest/p/{token(settings, engine, 'preferences', reader(engine, 'reader2@example.com').id)}",
                             data={"csrf": csrf, "action": "resubscribe"})
        assert forged.status_code == 403  # another reader's CSRF token
    sub = reader(engine)
    assert (sub.status, sub.consent_at, sub.consent_source) == ("active", NOW, "web:resubscribe")


def test_the_unsubscribed_page_offers_an_undo(engine, settings, readers):
    with app_client(settings, engine) as client:
        url = f"https://news.example.com/digest/u/{token(settings, engine, 'unsubscribe', readers)}"
        done = client.post(url)
        assert "You are unsubscribed" in done.text and subscription(engine) == "unsubscribed"
        assert reader(engine).status == "active"  # one-click leaves the newsletter, not the person
        form = re.search(r'<form method="post" action="([^"]+)">(.*?)</form>', done.text, re.S)
        fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(2)))
        assert fields["action"] == "resubscribe" and "Resubscribe" in form.group(2)
        undone = client.post(urljoin(url, form.group(1)), data=fields)
        assert undone.status_code == 200 and "subscribed again" in undone.text
        assert ">Unsubscribe</button>" in client.get(url).text  # subscribed again: the page offers the button
    assert reader(engine).status == "active" and subscription(engine) == "active"


def test_a_suppressed_reader_is_not_offered_a_way_around_it(engine, settings, readers):
    with store.session_scope(engine) as session:
        store.subscribers.find_subscriber(session, email="reader1@example.com").status = "bounced"
    with app_client(settings, engine) as client:
        path, page, csrf = preferences(client, settings, engine, readers)
        assert "Resubscribe" not in page.text
        client.post(path, data={"csrf": csrf, "action": "resubscribe"})
    assert reader(engine).status == "bounced"


@pytest.mark.parametrize("zone", ["Europe", "America/Argentina", "Etc", "a" * 300, "UTC\x00", "../etc/passwd"])
def test_an_invalid_time_zone_is_a_400_with_a_message(engine, settings, readers, zone):
    with app_client(settings, engine, raise_server_exceptions=False) as client:
        path, _, csrf = preferences(client, settings, engine, readers)
        response = client.post(path, data={"csrf": csrf, "frequency": "daily", "send_at": "08:00", "timezone": zone,
                                           "format": "html", "max_items": "4"})
    assert response.status_code == 400 and "timezone: unknown time zone" in response.text
    assert reader(engine).timezone == "UTC"


def test_a_500_carries_the_security_headers(engine, settings, readers):
    with app_client(settings, engine, raise_server_exceptions=False) as client:
        path = f"/digest/p/{token(settings, engine, 'preferences', readers)}"
        fine = client.get(path)
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE subscriber RENAME TO subscriber_gone"))
        try:
            broken = client.get(path)
        finally:
            with engine.begin() as conn:
                conn.execute(text("ALTER TABLE subscriber_gone RENAME TO subscriber"))
    assert fine.status_code == 200 and broken.status_code == 500
    for name in ("referrer-policy", "cache-control", "content-security-policy", "x-content-type-options"):
        assert broken.headers.get(name) == fine.headers[name], name
    assert "subscriber" not in broken.text and "Traceback" not in broken.text
