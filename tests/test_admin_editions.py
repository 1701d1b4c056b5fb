"""The console's edition page, /admin/editions/SLUG (+ .json): `digest status`'s counts and reasons for one
edition, its variants, each story it carried with its clicks and click rate (also by position and by section),
and the editors' requeue of its failed and bounced deliveries. A real edition sent into aiosmtpd."""

from __future__ import annotations

import json
import re

import pytest
from argon2 import PasswordHasher
from sqlmodel import select
from starlette.testclient import TestClient

from digest import store
from digest.models import Delivery, DeliveryItem, Subscriber
from digest.operations import admin as admin_ops
from digest.operations import editions as ops
from digest.send import RecordingMailer
from digest.web import create_app
from digest.web.admin import editions as views
from tests.conftest import NOW
from tests.test_admin import BASE
from tests.factories import seed, send_day
from tests.test_edition_figures import twelve_readers
from tests.test_admin import Clock, add, digest, login, page_csrf

pytestmark = pytest.mark.store

KEY = f"digest:{NOW.date()}"
SLUG = f"digest-{NOW.date()}"
REFUSED = "reader3@example.com"


@pytest.fixture(autouse=True)
def quick_hashes(monkeypatch):
    """argon2 with small parameters, as in tests/test_admin.py."""
    monkeypatch.setattr(admin_ops, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def client(settings, engine):
    with TestClient(create_app(settings, engine, mailer=RecordingMailer(), clock=Clock(NOW)), base_url=BASE,
                    follow_redirects=False) as test_client:
        yield test_client


@pytest.fixture
def sent(smtp_settings, smtpd, engine):
    """Four readers, the third refused by the relay (550), sent for real; reader1 clicks their first story."""
    seed(engine, NOW, subscribers=4)
    smtpd.handler.rcpt_replies[REFUSED] = "550 5.1.1 no such user"
    send_day(engine, smtp_settings)
    with store.session_scope(engine) as session:
        delivery_id, article_id = session.exec(
            select(DeliveryItem.delivery_id, DeliveryItem.article_id).join(Delivery, Delivery.id == DeliveryItem.delivery_id)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Subscriber.email == "reader1@example.com").order_by(DeliveryItem.section, DeliveryItem.position)).first()
        assert store.engagement.count_click(session, delivery_id=delivery_id, article_id=article_id, now=NOW)
    return article_id


def logged_in(settings, engine, client, role):
    add(settings, engine, f"{role}@example.com", role=role)
    assert login(client, f"{role}@example.com").status_code == 303
    return client


def test_the_edition_counts_are_those_of_digest_status(settings, engine, client, sent):
    logged_in(settings, engine, client, "viewer")
    doc = client.get(f"/admin/editions/{SLUG}.json").json()
    status = json.loads(digest(settings, "status", "--json", "--date", NOW.date().isoformat()).stdout)
    (expected,) = status["editions"]
    assert {k: doc[k] for k in expected} == expected
    assert doc["counts"]["sent"] == 3 and sum(doc["counts"].values()) == 4
    assert any(r["smtp_code"] == 550 and r["count"] == 1 for r in doc["reasons"])
    assert sum(v["deliveries"] for v in doc["variants"]) == 4
    page = client.get(f"/admin/editions/{SLUG}")
    assert page.status_code == 200 and KEY in page.text and "<td class=\"n\">550</td>" in page.text
    assert f'href="/digest/admin/editions/{SLUG}"' in client.get("/admin/").text  # linked from the overview


def test_the_stories_with_their_sections_positions_clicks_and_click_rates(settings, engine, client, sent):
    logged_in(settings, engine, client, "viewer")
    doc = client.get(f"/admin/editions/{SLUG}.json").json()
    with store.read_session(engine) as session:
        carried = session.exec(select(DeliveryItem.article_id, DeliveryItem.section, DeliveryItem.position)).all()
    assert sorted((s["article_id"], s["section"], s["position"]) for s in doc["stories"]) == sorted(set(carried))
    assert all(s["title"] and s["why"] for s in doc["stories"])
    (clicked,) = [s for s in doc["stories"] if s["clicks"]]
    assert clicked["article_id"] == sent and clicked["clicks"] == 1
    assert clicked["click_rate"] == round(1 / clicked["sent"], 4) and clicked["carried"] == clicked["sent"] + 1
    by_position = {p["position"]: p for p in doc["by_position"]}
    assert by_position[clicked["position"]]["clicks"] == 1
    assert sum(p["clicks"] for p in doc["by_position"]) == sum(s["clicks"] for s in doc["by_section"]) == 1
    assert {s["section"] for s in doc["by_section"]} == {section for _, section, _ in carried}
    page = client.get(f"/admin/editions/{SLUG}").text
    assert "Click rate by position" in page and "%.1f %%" % (100 / clicked["sent"]) in page


def test_a_viewer_cannot_requeue_an_editor_can_and_the_rows_move(settings, engine, client, sent):
    logged_in(settings, engine, client, "viewer")
    assert "/requeue" not in client.get(f"/admin/editions/{SLUG}").text
    refused = client.post(f"/admin/editions/{SLUG}/requeue", data={"csrf": page_csrf(client)})
    assert refused.status_code == 403
    assert "queued" not in client.get(f"/admin/editions/{SLUG}.json").json()["counts"]
    client.post("/admin/logout", data={"csrf": page_csrf(client)})
    logged_in(settings, engine, client, "editor")
    assert client.post(f"/admin/editions/{SLUG}/requeue", data={}).status_code == 403  # no CSRF token
    done = client.post(f"/admin/editions/{SLUG}/requeue", data={"csrf": page_csrf(client)})
    assert done.status_code == 303 and done.headers["location"].startswith(f"/digest/admin/editions/{SLUG}?")
    counts = client.get(f"/admin/editions/{SLUG}.json").json()["counts"]
    assert counts == {"sent": 3, "queued": 1}
    assert "Requeued 1 failed or bounced deliveries" in client.get(done.headers["location"].removeprefix("/digest")).text


def test_an_unknown_edition_is_404_and_anonymous_is_refused(settings, engine, client):
    assert client.get(f"/admin/editions/{SLUG}").headers["location"] == "/digest/admin/login"
    assert client.get(f"/admin/editions/{SLUG}.json").status_code == 401
    logged_in(settings, engine, client, "editor")
    missing = client.get("/admin/editions/digest-1999-01-01.json")
    assert missing.status_code == 404 and missing.json() == {"error": "no edition digest:1999-01-01 (see `digest status`)"}
    assert client.get("/admin/editions/digest-1999-01-01").status_code == 404
    with pytest.raises(Exception, match="no edition digest:1999-01-01"):
        ops.edition_detail(settings, "digest:1999-01-01", engine=engine)


def test_the_page_lists_the_biggest_variants_and_most_carried_stories_and_links_to_all(
        settings, smtp_settings, smtpd, engine, client, monkeypatch):
    twelve_readers(smtp_settings, smtpd, engine)  # six variants
    monkeypatch.setattr(views, "VARIANTS_SHOWN", 2)
    monkeypatch.setattr(views, "STORIES_SHOWN", 5)
    logged_in(settings, engine, client, "viewer")
    doc = client.get(f"/admin/editions/{SLUG}.json").json()  # the JSON keeps everything
    variants, stories = doc["variants"], doc["stories"]
    assert len(variants) > 2 and len(stories) > 5
    page = client.get(f"/admin/editions/{SLUG}").text
    assert page.count("<tr data-variant>") == 2 and page.count("data-story=") == 5
    assert f"The 2 biggest of {len(variants)} variants." in page
    assert f"The 5 stories carried by the most deliveries, of {len(stories)}." in page
    most = sorted(range(len(stories)), key=lambda i: -stories[i]["carried"])[:5]
    expected = [f'data-story="{s["section"]}/{s["position"]}/{s["article_id"]}"' for s in map(stories.__getitem__, sorted(most))]
    assert re.findall(r'data-story="[^"]+"', page) == expected
    assert min(stories[i]["carried"] for i in most) >= max(s["carried"] for i, s in enumerate(stories) if i not in most)
    link = f'href="/digest/admin/editions/{SLUG}?all=1"'
    assert page.count(link) == 2
    everything = client.get(f"/admin/editions/{SLUG}?all=1").text
    assert everything.count("<tr data-variant>") == len(variants) and everything.count("data-story=") == len(stories)
    assert link not in everything and "biggest of" not in everything
