"""The console's readers (/admin/readers): search by address prefix (any case), filter by status and newsletter,
walk the pages by id; one reader's page with subscriptions and the deliveries of a real edition sent into
aiosmtpd; the admin's actions (suppress, reactivate, erase with the address typed again), refused to others."""

from __future__ import annotations

import re
from datetime import timedelta
from email import message_from_bytes, policy

import pytest

from digest import store
from digest.models import SubscriberStatus, SubscriptionStatus
from digest.operations import reader_record, readers as readers_ops
from tests.conftest import NOW
from tests.factories import seed, send_day, subscriber
from tests import test_admin
from tests.test_admin import add, login

pytestmark = pytest.mark.store
client, clock, quick_hashes = test_admin.client, test_admin.clock, test_admin.quick_hashes  # its fixtures


def readers(engine, emails, **kw):
    with store.session_scope(engine) as session:
        store.subscribers.upsert_subscribers(session, subscribers=[subscriber(e) for e in emails], now=NOW, **kw)


def as_role(settings, engine, client, role):
    add(settings, engine, f"{role}@example.com", role=role)
    assert login(client, f"{role}@example.com").status_code == 303


def ids_of(engine, *emails):
    with store.read_session(engine) as session:
        return [store.subscribers.find_subscriber(session, email=e).id for e in emails]


def test_search_is_a_case_insensitive_prefix_and_filters_by_status_and_newsletter(settings, engine, client):
    readers(engine, ["alice@example.com", "alan@example.org", "bob@example.com", "al_x@example.com", "am@example.com",
                     "ak@example.com", "alxy@example.com"])
    (bob,) = ids_of(engine, "bob@example.com")
    with store.session_scope(engine) as session:
        store.subscribers.set_subscriber_status(session, subscriber_id=ids_of(engine, "alan@example.org")[0],
                                                status=SubscriberStatus.bounced, now=NOW,
                                                only_from=[SubscriberStatus.active])
        store.subscriptions.set_status(session, subscriber_id=bob, newsletter="digest",
                                       status=SubscriptionStatus.unsubscribed, now=NOW)
    as_role(settings, engine, client, "viewer")

    def found(**params):
        page = client.get("/admin/readers.json", params=params)
        assert page.status_code == 200, page.text
        return [r["email"] for r in page.json()["readers"]]
    assert found(q="AL") == ["alice@example.com", "alan@example.org", "al_x@example.com", "alxy@example.com"]
    assert found(q=" Alx") == ["alxy@example.com"]  # the range's upper end ("aly") is excluded, its lower kept
    assert found(q="al_") == ["al_x@example.com"]  # the wildcard is a plain character
    assert found(q="example") == []  # a prefix, not a substring
    assert found(status="bounced") == ["alan@example.org"]
    assert "bob@example.com" not in found(newsletter="digest") and len(found(newsletter="digest")) == 6
    assert client.get("/admin/readers.json", params={"status": "nope"}).status_code == 400
    assert client.get("/admin/readers.json", params={"after": "x"}).status_code == 400
    html = client.get("/admin/readers", params={"q": "Ali"})
    assert html.status_code == 200 and "alice@example.com" in html.text and "bob@example.com" not in html.text


def test_topic_and_country_filters_match_whole_entries_of_the_readers_own_lists(settings, engine, client):
    with store.session_scope(engine) as session:
        store.subscribers.upsert_subscribers(session, now=NOW, subscribers=[
            subscriber("sport@example.com", topics=["sport", "science"], countries=["Germany"]),
            subscriber("sports@example.com", topics=["sports"], countries=["United States"]),
            subscriber("quote@example.com", topics=['"sport'], countries=["Österreich"]),
            subscriber("none@example.com"),
            subscriber("sport-fan@example.com", topics=["science"], countries=["germany", "Japan"]),
            subscriber("both@example.com", topics=["Sport"], countries=["Japan"])])
    (both,) = ids_of(engine, "both@example.com")
    with store.session_scope(engine) as session:
        store.subscribers.set_subscriber_status(session, subscriber_id=both, status=SubscriberStatus.unsubscribed,
                                                now=NOW, only_from=[SubscriberStatus.active])
    as_role(settings, engine, client, "viewer")

    def found(**params):
        page = client.get("/admin/readers.json", params=params)
        assert page.status_code == 200, page.text
        return [r["email"] for r in page.json()["readers"]]
    assert found(topic="SPORT") == ["sport@example.com", "both@example.com"]  # not "sports", '"sport' nor an address
    assert found(topic="sports") == ["sports@example.com"]
    assert found(topic='"sport') == ["quote@example.com"]
    assert found(country="germany") == ["sport@example.com", "sport-fan@example.com"]
    assert found(country="Österreich") == ["quote@example.com"]  # no text test: the JSON escapes the Ö
    assert found(topic="sport", country="japan") == ["both@example.com"]
    assert found(topic="sport", status="active") == ["sport@example.com"]
    assert found(topic="sport", q="b", newsletter="digest") == ["both@example.com"]
    assert found(topic="sp%") == [] and found(topic="sp_rt") == []  # wildcards are plain characters
    html = client.get("/admin/readers", params={"topic": "science", "country": "Germany"})
    assert html.status_code == 200 and "sport@example.com" in html.text and "sports@example.com" not in html.text
    assert 'value="science"' in html.text and 'value="Germany"' in html.text


def test_pagination_walks_every_reader_once(settings, engine, client):
    emails = [f"r{i:03}@example.com" for i in range(120)]
    readers(engine, emails)
    as_role(settings, engine, client, "viewer")
    seen, after, pages = [], 0, 0
    while after is not None:
        doc = client.get("/admin/readers.json", params={"after": after}).json()
        assert len(doc["readers"]) <= readers_ops.PAGE_SIZE
        seen += [r["email"] for r in doc["readers"]]
        after, pages = doc["next_after"], pages + 1
    assert sorted(seen) == sorted(emails) and len(seen) == len(set(seen)) and pages == 3
    first = client.get("/admin/readers")
    link = re.search(r'href="/digest/admin/readers\?([^"]+)">Next page', first.text).group(1)
    assert link == f"after={ids_of(engine, emails[49])[0]}"


def test_the_reader_page_shows_subscriptions_and_deliveries(settings, smtp_settings, engine, client, smtpd):
    seed(engine, NOW, subscribers=2)
    send_day(engine, smtp_settings)
    assert len(smtpd.handler.messages) == 2
    (rid,) = ids_of(engine, "reader1@example.com")
    as_role(settings, engine, client, "viewer")
    doc = client.get(f"/admin/readers/{rid}.json").json()
    assert doc["reader"]["email"] == "reader1@example.com" and "consent_source" in doc["reader"]
    assert [(s["newsletter"], s["status"]) for s in doc["subscriptions"]] == [("digest", "active")]
    assert doc["delivery_count"] == 1
    (d,) = doc["deliveries"]
    assert d["edition"] == f"digest:{NOW.date()}" and d["status"] == "sent" and d["smtp_code"] == 250
    sent_ids = {message_from_bytes(m.data, policy=policy.default)["Message-ID"] for m in smtpd.handler.messages
                if m.rcpt_tos == ["reader1@example.com"]}
    assert sent_ids == {d["message_id"]}
    page = client.get(f"/admin/readers/{rid}")
    assert page.status_code == 200 and f"digest:{NOW.date()}" in page.text and "Suppress" not in page.text
    assert client.get("/admin/readers/999999").status_code == 404


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_a_viewer_or_editor_cannot_act_on_a_reader(settings, engine, client, role):
    readers(engine, ["alice@example.com"])
    (rid,) = ids_of(engine, "alice@example.com")
    as_role(settings, engine, client, role)
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get(f"/admin/readers/{rid}").text).group(1)
    for action in ("suppress", "reactivate", "erase"):
        done = client.post(f"/admin/readers/{rid}/{action}", data={"csrf": csrf, "confirm": "alice@example.com"})
        assert done.status_code == 403, action
    assert client.get(f"/admin/readers/{rid}.json").json()["reader"]["status"] == "active"


def test_an_admin_suppresses_reactivates_and_erases_with_the_address_typed(settings, engine, client):
    readers(engine, ["alice@example.com", "carol@example.com"])
    rid, carol = ids_of(engine, "alice@example.com", "carol@example.com")
    as_role(settings, engine, client, "admin")
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get(f"/admin/readers/{rid}").text).group(1)

    def act(action, reader=rid, **data):
        done = client.post(f"/admin/readers/{reader}/{action}", data={"csrf": csrf, **data})
        assert done.status_code == 303
        return client.get(done.headers["location"].removeprefix("/digest"))

    assert client.post(f"/admin/readers/{rid}/suppress", data={}).status_code == 403  # no CSRF token
    assert "suppressed (active → unsubscribed)" in act("suppress").text
    assert client.get(f"/admin/readers/{rid}.json").json()["reader"]["status"] == "unsubscribed"
    assert "reactivated (unsubscribed → active)" in act("reactivate").text
    with store.session_scope(engine) as session:
        store.subscribers.set_subscriber_status(session, subscriber_id=carol, status=SubscriberStatus.complained,
                                                now=NOW, only_from=[SubscriberStatus.active])
    assert "not changed" in act("reactivate", carol).text
    assert client.get(f"/admin/readers/{carol}.json").json()["reader"]["status"] == "complained"
    refused = act("erase", confirm="someone@example.com")
    assert "type the reader" in refused.text and client.get(f"/admin/readers/{rid}.json").status_code == 200
    erased = act("erase", confirm="Alice@Example.com")
    assert "erased alice@example.com" in erased.text
    assert client.get(f"/admin/readers/{rid}.json").status_code == 404
    with store.read_session(engine) as session:
        assert store.subscribers.is_suppressed(session, email="alice@example.com") is not None


def test_the_reader_page_shows_the_newest_deliveries_first_and_counts_them_all(settings, smtp_settings, engine,
                                                                                client, smtpd, monkeypatch):
    seed(engine, NOW, subscribers=1)
    send_day(engine, smtp_settings)
    tomorrow = NOW + timedelta(days=1)
    send_day(engine, smtp_settings, clock=lambda: tomorrow, day=tomorrow.date())
    (rid,) = ids_of(engine, "reader1@example.com")
    as_role(settings, engine, client, "viewer")
    both = client.get(f"/admin/readers/{rid}.json").json()
    assert [d["edition"] for d in both["deliveries"]] == [f"digest:{tomorrow.date()}", f"digest:{NOW.date()}"]
    monkeypatch.setattr(reader_record, "DELIVERIES_SHOWN", 1)
    doc = client.get(f"/admin/readers/{rid}.json").json()
    assert doc["delivery_count"] == 2 and [d["edition"] for d in doc["deliveries"]] == [f"digest:{tomorrow.date()}"]
    assert "1 shown of 2, newest first." in client.get(f"/admin/readers/{rid}").text
