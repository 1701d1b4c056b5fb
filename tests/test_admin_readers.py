"""The console's readers (/admin/readers): search by address prefix (any case), filter by status and newsletter,
walk the pages by id; one reader's page with subscriptions and the deliveries of a real edition sent into
aiosmtpd; the admin's actions (suppress, reactivate, erase with the address typed again), refused to others."""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from email import message_from_bytes, policy

import pytest

from digest import store
from digest.models import SubscriberStatus, SubscriptionStatus
from digest.operations import reader_record, readers as readers_ops
from digest.store import readers as reader_store
from tests.conftest import NOW
from tests.factories import seed, send_day, subscriber
from tests import test_admin
from tests.test_admin import add, login
from tests.test_cli import Digest, one_error

pytestmark = pytest.mark.store
client, clock, quick_hashes = test_admin.client, test_admin.clock, test_admin.quick_hashes  # its fixtures
try:  # the browser test's fixtures, when Playwright is installed (else that module skips itself on import)
    from tests import test_admin_browser
    served, page = test_admin_browser.served, test_admin_browser.page
except pytest.skip.Exception:
    test_admin_browser = None


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


def test_a_filtered_search_walks_the_ids_in_windows_and_pages_on(settings, engine, client, monkeypatch):
    monkeypatch.setattr(reader_store, "WINDOW", 7)
    monkeypatch.setattr(readers_ops, "PAGE_SIZE", 4)
    emails = [f"r{i:03}@example.com" for i in range(60)]
    with store.session_scope(engine) as session:
        store.subscribers.upsert_subscribers(session, now=NOW, subscribers=[
            subscriber(e, topics=["rare"] if i % 5 == 0 else ["common"]) for i, e in enumerate(emails)])
    as_role(settings, engine, client, "viewer")
    seen, after, pages = [], 0, 0
    while after is not None:
        doc = client.get("/admin/readers.json", params={"topic": "rare", "after": after}).json()
        seen += [r["email"] for r in doc["readers"]]
        after, pages = doc["next_after"], pages + 1
    assert seen == emails[::5] and pages == 3  # 12 readers, 4 a page (the last page full: one more to know)


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
    for action in ("suppress", "reactivate", "erase", "resend"):
        done = client.post(f"/admin/readers/{rid}/{action}", data={"csrf": csrf, "confirm": "alice@example.com",
                                                                   "duplicate": "yes", "date": str(NOW.date())})
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
    page = client.get(f"/admin/readers/{rid}").text
    assert "1 shown of 2, newest first." in page
    older = re.search(r'href="/digest/admin/readers/\d+\?before=(\d+)#deliveries">Older deliveries', page).group(1)
    assert int(older) == doc["deliveries"][0]["id"] == doc["next_before"]
    last = client.get(f"/admin/readers/{rid}.json", params={"before": older}).json()
    assert [d["edition"] for d in last["deliveries"]] == [f"digest:{NOW.date()}"] and last["next_before"] is None
    assert "Older deliveries" not in client.get(f"/admin/readers/{rid}", params={"before": older}).text
    assert client.get(f"/admin/readers/{rid}", params={"before": "x"}).status_code == 400


# ── a reader's record: history, consent, deliveries with their items, bounces, clicks ──────────────────────

def sent_delivery(engine, email):
    with store.read_session(engine) as session:
        sub = store.subscribers.find_subscriber(session, email=email)
        edition_key = f"digest:{NOW.date()}"
        _, delivery = store.deliveries.subscriber_delivery(session, edition_key=edition_key, subscriber_id=sub.id)
        items = store.deliveries.delivery_items(session, delivery_ids=[delivery.id])[delivery.id]
        return sub.id, delivery.id, items


def test_the_reader_page_shows_items_reasons_clicks_and_overrides(settings, smtp_settings, engine, client, smtpd):
    seed(engine, NOW, subscribers=1)
    send_day(engine, smtp_settings)
    rid, did, items = sent_delivery(engine, "reader1@example.com")
    clicked = items[1].article_id
    with store.session_scope(engine) as session:
        assert store.engagement.count_click(session, delivery_id=did, article_id=clicked, now=NOW + timedelta(hours=1))
        store.subscriptions.set_preferences(session, subscriber_id=rid, newsletter="digest", values={"max_items": 3},
                                            now=NOW + timedelta(hours=2))
    as_role(settings, engine, client, "viewer")
    doc = client.get(f"/admin/readers/{rid}.json").json()
    (d,) = doc["deliveries"]
    assert [(i["section"], i["position"], i["article_id"]) for i in d["items"]] == \
        [(i.section, i.position, i.article_id) for i in items] and len(items) > 1
    assert all(i["title"] and i["url"] and "filters" in i["why"] for i in d["items"])
    assert [i["article_id"] for i in d["items"] if i["clicked_at"]] == [clicked] and d["clicks"] == 1
    assert [(c["edition"], c["delivery_id"], c["article_id"]) for c in doc["clicks"]] == \
        [(f"digest:{NOW.date()}", did, clicked)]
    (s,) = doc["subscriptions"]
    assert s["overrides"] == {"max_items": 3} and s["effective"]["max_items"] == 3 and s["effective"]["format"] == "html"
    events = [(e["event"], e["detail"]) for e in doc["history"]]
    assert events[0][0] == "reader created" and ("subscription to digest last changed", "now active") in events
    assert doc["bounces"] == [] and doc["suppression"] is None and doc["consent"]["confirmations"] == []
    page = client.get(f"/admin/readers/{rid}").text
    assert "Assembled from the records the store holds" in page and "Items of this delivery" in page
    assert items[0].why["filters"] in page and "1 of " in page and "max_items=3" in page


def test_the_history_shows_consent_confirmations_bounces_and_the_suppression(settings, smtp_settings, engine, client,
                                                                            smtpd):
    seed(engine, NOW, subscribers=2)
    send_day(engine, smtp_settings)
    bounced, did, _ = sent_delivery(engine, "reader2@example.com")
    signed_up = NOW - timedelta(days=2)
    with store.session_scope(engine) as session:
        assert store.deliveries.record_bounce(session, delivery_id=did, smtp_code=550, smtp_reply="5.1.1 no such user",
                                              error="hard bounce", now=NOW + timedelta(hours=3))
        assert store.subscribers.delete_subscriber(session, email="reader2@example.com", now=NOW + timedelta(hours=4))
        new = store.subscribers.add_pending_subscriber(session, subscriber=subscriber("new@example.com"),
                                                       source="web:/subscribe homepage", now=signed_up)
        row = store.confirmations.queue_confirmation(session, subscriber_id=new.id, email=new.email, now=signed_up,
                                                     window=timedelta(hours=1))
        assert store.confirmations.claim_confirmation(session, confirmation_id=row.id, now=signed_up)
        store.confirmations.record_confirmation(session, confirmation_id=row.id, status="sent", smtp_code=250,
                                                smtp_reply="OK", message_id="<c1@example.com>", now=signed_up)
        assert store.subscribers.confirm_subscriber(session, subscriber_id=new.id, now=signed_up + timedelta(minutes=5))
        new_id = new.id
    as_role(settings, engine, client, "viewer")
    doc = client.get(f"/admin/readers/{bounced}.json").json()
    assert [(b["edition"], b["smtp_code"], b["smtp_reply"]) for b in doc["bounces"]] == \
        [(f"digest:{NOW.date()}", 550, "5.1.1 no such user")]
    events = [(e["event"], e["detail"]) for e in doc["history"]]
    assert events[-3:] == [(f"bounced: digest:{NOW.date()}", "550 5.1.1 no such user"),
                           ("reader's row last changed", "status now removed"),
                           ("suppression recorded", "reason: removed")]
    assert doc["suppression"]["reason"] == "removed"
    assert "Suppression record (kept by the address" in client.get(f"/admin/readers/{bounced}").text
    doc = client.get(f"/admin/readers/{new_id}.json").json()
    assert doc["consent"]["consent_source"] == "web:/subscribe homepage"
    assert doc["consent"]["consent_at"].startswith((signed_up + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"))
    assert [(c["status"], c["message_id"]) for c in doc["consent"]["confirmations"]] == [("sent", "<c1@example.com>")]
    events = [e["event"] for e in doc["history"]]
    assert events[:4] == ["reader created", "confirmation email queued", "confirmation email sent", "consent recorded"]
    page = client.get(f"/admin/readers/{new_id}").text
    assert "Confirmation emails (double opt-in)" in page and "&lt;c1@example.com&gt;" in page


# ── resend one edition to one reader ───────────────────────────────────────────────────────────────────────

def message_ids_to(smtpd, email):
    return [message_from_bytes(m.data, policy=policy.default)["Message-ID"] for m in smtpd.handler.messages
            if m.rcpt_tos == [email]]


def test_an_admin_resends_an_edition_and_digest_send_delivers_a_second_copy(settings, smtp_settings, engine, client,
                                                                           smtpd, tmp_path, monkeypatch):
    seed(engine, NOW, subscribers=2)
    send_day(engine, smtp_settings)
    rid, did, _ = sent_delivery(engine, "reader1@example.com")
    (first,) = message_ids_to(smtpd, "reader1@example.com")
    as_role(settings, engine, client, "admin")
    page = client.get(f"/admin/readers/{rid}").text
    assert "will get a second copy of digest:" in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    form = {"csrf": csrf, "edition": f"digest:{NOW.date()}", "date": str(NOW.date())}

    def act(**data):
        done = client.post(f"/admin/readers/{rid}/resend", data={**form, **data})
        assert done.status_code == 303
        return client.get(done.headers["location"].removeprefix("/digest")).text

    assert client.post(f"/admin/readers/{rid}/resend", data={**form, "csrf": "", "duplicate": "yes"}).status_code == 403
    assert "not resent: tick the box" in act()
    assert client.get(f"/admin/readers/{rid}.json").json()["deliveries"][0]["status"] == "sent"
    assert "queued to get a second copy" in act(duplicate="yes")
    doc = client.get(f"/admin/readers/{rid}.json").json()
    (d,) = doc["deliveries"]
    assert d["status"] == "queued" and d["error"].startswith("resent by admin@example.com") and first in d["error"]
    assert doc["history"][-1]["event"] == f"resend of digest:{NOW.date()} queued"
    assert "is queued and is still on its way" in act(duplicate="yes")  # twice is not three copies

    monkeypatch.chdir(tmp_path)
    sent = Digest(tmp_path, settings.store.url, port=smtpd.port)("send", "--date", str(NOW.date()),
                                                                "--subscriber", "reader1@example.com")
    assert sent.exit_code == 0, sent.output
    copies = message_ids_to(smtpd, "reader1@example.com")
    assert len(copies) == 2 and copies[0] == first and copies[1] != first
    assert len(message_ids_to(smtpd, "reader2@example.com")) == 1
    (d,) = client.get(f"/admin/readers/{rid}.json").json()["deliveries"]
    assert (d["status"], d["message_id"], d["attempts"], d["id"]) == ("sent", copies[1], 2, did)
    with store.read_session(engine) as session:
        assert store.editions.find_edition(session, key=f"digest:{NOW.date()}").status == "done"


def test_a_suppressed_or_unsubscribed_reader_is_not_resent(settings, smtp_settings, engine, client, smtpd, tmp_path,
                                                           monkeypatch):
    seed(engine, NOW, subscribers=2)
    send_day(engine, smtp_settings)
    one, _, _ = sent_delivery(engine, "reader1@example.com")
    two, _, _ = sent_delivery(engine, "reader2@example.com")
    with store.session_scope(engine) as session:
        store.subscribers.set_subscriber_status(session, subscriber_id=one, status=SubscriberStatus.unsubscribed,
                                                now=NOW, only_from=[SubscriberStatus.active])
        store.subscriptions.set_status(session, subscriber_id=two, newsletter="digest",
                                       status=SubscriptionStatus.unsubscribed, now=NOW)
    as_role(settings, engine, client, "admin")
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get(f"/admin/readers/{one}").text).group(1)
    for rid, why in ((one, "reader1@example.com is unsubscribed: not resent"),
                     (two, "reader2@example.com unsubscribed from digest: not resent")):
        done = client.post(f"/admin/readers/{rid}/resend", data={
            "csrf": csrf, "edition": f"digest:{NOW.date()}", "date": str(NOW.date()), "duplicate": "yes"})
        assert why in client.get(done.headers["location"].removeprefix("/digest")).text
        assert client.get(f"/admin/readers/{rid}.json").json()["deliveries"][0]["status"] == "sent"
    monkeypatch.chdir(tmp_path)
    cli = Digest(tmp_path, settings.store.url, port=smtpd.port)
    refused = cli("deliveries", "resend", "--date", str(NOW.date()), "--subscriber", "Reader1@example.com")
    assert one_error(refused, "reader1@example.com is unsubscribed")
    assert one_error(cli("deliveries", "resend", "--date", str(NOW.date()), "--subscriber", "nobody@example.com"),
                     "no reader nobody@example.com")
    assert one_error(cli("deliveries", "resend", "--date", "2026-11-01", "--subscriber", "reader2@example.com"),
                     "has no delivery of an edition on 2026-11-01")


def test_digest_deliveries_resend_queues_it_and_says_how_to_send_it(settings, smtp_settings, engine, smtpd, tmp_path,
                                                                    monkeypatch):
    seed(engine, NOW, subscribers=1)
    send_day(engine, smtp_settings)
    monkeypatch.chdir(tmp_path)
    cli = Digest(tmp_path, settings.store.url, port=smtpd.port)
    done = cli("deliveries", "resend", "--date", str(NOW.date()), "--subscriber", "reader1@example.com",
               "--newsletter", "digest")
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == (f"digest:{NOW.date()}: reader1@example.com queued to get a second copy; "
                                   f"`digest send --date {NOW.date()} --subscriber reader1@example.com` sends it now")
    assert cli("send", "--date", str(NOW.date())).exit_code == 0
    assert len(message_ids_to(smtpd, "reader1@example.com")) == 2
    assert one_error(cli("deliveries", "resend", "--date", str(NOW.date()), "--subscriber", "reader1@example.com",
                         "--newsletter", "nope"), "has no delivery of an edition of nope")


@pytest.mark.skipif(test_admin_browser is None or shutil.which(test_admin_browser.CHROMIUM) is None,
                    reason="Playwright or Debian's chromium is missing")
def test_in_a_browser_a_viewer_looks_a_reader_up_and_sees_what_they_were_sent(page, served):
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(served.url + "/digest/admin/login")
    page.get_by_label("Email address").fill("ops@example.com")
    page.get_by_label("Password").fill(test_admin_browser.PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Readers").click()
    page.get_by_label("Address starts with").fill("READER2")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="reader2@example.com").click()
    page.get_by_role("heading", name="reader2@example.com").wait_for()
    assert page.get_by_role("heading", name=f"digest:{NOW.date()}: sent").count() == 1
    items = page.get_by_role("table", name="Items of this delivery")
    assert items.get_by_role("row").count() > 2 and "Story number" in items.inner_text()
    assert page.get_by_role("button", name=re.compile("Resend")).count() == 0  # a viewer resends nothing
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # usable at 390 px: no sideways scroll
