"""The console's actions on an edition (pause, resume, the deferred due now, the unknown requeued: editors, CSRF),
the preview of one reader's email as built for them (admins; a sandboxed frame with its own CSP), and the
overview's charts (`/admin/charts.json`, equal to `digest status --json`; the table and the static script).
A real edition sent into aiosmtpd, the console through Starlette's test client."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import update
from sqlmodel import select
from starlette.testclient import TestClient

from digest import store
from digest.models import (
    Article, CountedClick, Delivery, DeliveryItem, DeliveryStatus, Edition, Subscriber, Subscription,
)
from digest.operations import admin as admin_ops
from digest.send import RecordingMailer
from digest.web import create_app
from tests.conftest import NOW
from tests.factories import seed, send_day
from tests.test_admin import BASE, Clock, digest, login
from tests.test_admin_editions import logged_in

pytestmark = pytest.mark.store

DAY = NOW.date().isoformat()
KEY = f"digest:{DAY}"
SLUG = f"digest-{DAY}"
FEW = "reader1@example.com"  # two stories only: the others' further stories are not in their email


@pytest.fixture(autouse=True)
def quick_hashes(monkeypatch):
    """argon2 with small parameters, as in tests/test_admin.py."""
    monkeypatch.setattr(admin_ops, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def client(settings, engine):
    with TestClient(create_app(settings, engine, mailer=RecordingMailer(), clock=Clock(NOW)), base_url=BASE,
                    follow_redirects=False) as test_client:
        yield test_client


def statuses(engine) -> dict[int, str]:
    with store.read_session(engine) as session:
        return {i: str(s) for i, s in session.exec(select(Delivery.id, Delivery.status).order_by(Delivery.id))}


def held(engine) -> str | None:
    with store.read_session(engine) as session:
        return session.exec(select(Edition.held).where(Edition.key == KEY)).one()


def set_rows(engine, ids, **values) -> None:
    with store.session_scope(engine) as session:
        session.connection().execute(update(Delivery).where(Delivery.id.in_(ids)).values(**values))


@pytest.fixture
def started(engine, smtp_settings, smtpd):
    """Five readers (reader1 takes two stories), two of them sent: three deliveries still queued."""
    seed(engine, NOW, subscribers=5)
    with store.session_scope(engine) as session:
        session.connection().execute(update(Subscriber).where(Subscriber.email == FEW).values(max_items=2))
    send_day(engine, smtp_settings, limit=2)
    assert sorted(statuses(engine).values()) == ["queued", "queued", "queued", "sent", "sent"]


def csrf_of(client, path: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).text).group(1)


def act(client, name: str, **form):
    token = csrf_of(client, f"/admin/editions/{SLUG}")
    return client.post(f"/admin/editions/{SLUG}/{name}", data={"csrf": token, **form})


def test_pause_and_resume_from_the_edition_page(settings, engine, client, started):
    logged_in(settings, engine, client, "editor")
    page = client.get(f"/admin/editions/{SLUG}")
    assert f'action="/digest/admin/editions/{SLUG}/pause"' in page.text and "/resume" not in page.text
    done = act(client, "pause")
    assert done.status_code == 303 and done.headers["location"].endswith(f"/editions/{SLUG}?did=pause&n=0")
    assert held(engine) == "paused"
    page = client.get(done.headers["location"].removeprefix("/digest"))
    assert "Paused: a sender stops after the batch in flight" in page.text
    assert '<strong data-field="status">paused</strong>' in page.text  # no longer live: nothing is sending
    assert f'action="/digest/admin/editions/{SLUG}/resume"' in page.text
    overview = client.get("/admin/overview.json").json()
    assert overview["newsletters"][0]["editions"][0]["held"] == "paused"
    assert act(client, "resume").status_code == 303 and held(engine) is None
    again = act(client, "resume")
    assert again.status_code == 409 and f"{KEY} is not paused (it is sending)" in again.text


def test_retry_deferred_and_retry_unknown_move_exactly_their_rows(settings, engine, client, started):
    logged_in(settings, engine, client, "editor")
    queued = [i for i, s in statuses(engine).items() if s == "queued"]
    set_rows(engine, queued[:1], status=DeliveryStatus.deferred, next_attempt_at=NOW + timedelta(hours=3))
    set_rows(engine, queued[1:], status=DeliveryStatus.unknown)
    before = statuses(engine)
    page = client.get(f"/admin/editions/{SLUG}")
    assert 'name="confirm" value="duplicates" required' in page.text and "may get the message twice" in page.text

    done = act(client, "retry-deferred")
    assert done.status_code == 303 and done.headers["location"].endswith("?did=retry-deferred&n=1")
    with store.read_session(engine) as session:
        assert session.get(Delivery, queued[0]).next_attempt_at == NOW

    refused = act(client, "retry-unknown")  # the box not ticked: nothing moves
    assert refused.status_code == 400 and "Tick the box" in refused.text and statuses(engine) == before
    done = act(client, "retry-unknown", confirm="duplicates")
    assert done.status_code == 303 and done.headers["location"].endswith("?did=retry-unknown&n=2")
    assert statuses(engine) == {**before, **{i: "queued" for i in queued[1:]}}
    assert "2 unknown deliveries requeued: some of these readers may get the message twice" in client.get(
        done.headers["location"].removeprefix("/digest")).text


def test_a_viewer_is_refused_the_actions_and_a_form_needs_its_csrf_token(settings, engine, client, started):
    logged_in(settings, engine, client, "viewer")
    token = csrf_of(client, "/admin/")
    page = client.get(f"/admin/editions/{SLUG}")
    assert "/pause" not in page.text
    for name in ("pause", "resume", "retry-deferred", "retry-unknown"):
        assert client.post(f"/admin/editions/{SLUG}/{name}", data={"csrf": token}).status_code == 403
    assert held(engine) is None
    client.cookies.clear()
    logged_in(settings, engine, client, "editor")
    assert client.post(f"/admin/editions/{SLUG}/pause", data={}).status_code == 403
    assert client.post(f"/admin/editions/{SLUG}/pause", data={"csrf": token}).status_code == 403  # the viewer's
    assert held(engine) is None
    missing = client.post("/admin/editions/digest-2020-01-01/pause", data={"csrf": csrf_of(client, "/admin/")})
    assert missing.status_code == 404 and "no edition digest:2020-01-01" in missing.text


def items_of(engine, email: str) -> set[str]:
    with store.read_session(engine) as session:
        return set(session.exec(select(Article.title).join(DeliveryItem, DeliveryItem.article_id == Article.id)
                                .join(Delivery, Delivery.id == DeliveryItem.delivery_id)
                                .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
                                .where(Subscriber.email == email)))


def test_the_preview_shows_the_readers_own_email_in_a_sandboxed_frame(settings, engine, client, started):
    logged_in(settings, engine, client, "admin")
    page = client.get(f"/admin/editions/{SLUG}/preview", params={"email": FEW.upper()})
    assert page.status_code == 200
    frame = f"/digest/admin/editions/{SLUG}/preview.html?email=reader1%40example.com"
    assert f'<iframe class="preview" sandbox src="{frame}"' in page.text
    assert "frame-src 'self'" in page.headers["content-security-policy"]
    shown = client.get(frame.removeprefix("/digest"))
    csp = shown.headers["content-security-policy"]
    assert shown.status_code == 200 and csp.startswith("sandbox;") and "script-src" not in csp
    assert "default-src 'none'" in csp and "frame-ancestors 'self'" in csp
    assert shown.headers["x-frame-options"] == "SAMEORIGIN"
    assert len(shown.headers.get_list("content-security-policy")) == 1  # not the reader pages' as well
    own, others = items_of(engine, FEW), items_of(engine, "reader2@example.com") - items_of(engine, FEW)
    assert len(own) == 2 and others
    assert all(title in shown.text for title in own) and not any(title in shown.text for title in others)
    assert "href=" not in shown.text and 'title="https://news.example.com/digest/u/' in shown.text  # disabled
    assert "<code>https://news.example.com/digest/u/" in page.text  # the reader's real links, listed
    with store.read_session(engine) as session:
        assert session.exec(select(CountedClick)).all() == []


def test_the_preview_is_for_admins_and_a_reader_without_a_delivery_is_one_line(settings, engine, client, started):
    logged_in(settings, engine, client, "editor")
    assert client.get(f"/admin/editions/{SLUG}/preview", params={"email": FEW}).status_code == 403
    assert client.get(f"/admin/editions/{SLUG}/preview.html", params={"email": FEW}).status_code == 403
    client.cookies.clear()
    logged_in(settings, engine, client, "admin")
    missing = client.get(f"/admin/editions/{SLUG}/preview", params={"email": "nobody@example.com"})
    assert missing.status_code == 404 and f"nobody@example.com has no delivery in {KEY}" in missing.text
    bad = client.get(f"/admin/editions/{SLUG}/preview.html", params={"email": "not an address"})
    assert bad.status_code == 404 and len(bad.text.splitlines()) == 1 and bad.text.startswith("email:")


def test_the_charts_figures_equal_digest_status_and_count_clicks_and_leavers(settings, engine, client, started,
                                                                          smtp_settings):
    send_day(engine, smtp_settings)  # all five sent
    with store.session_scope(engine) as session:
        delivery_id, article_id = session.exec(select(DeliveryItem.delivery_id, DeliveryItem.article_id)).first()
        assert store.engagement.count_click(session, delivery_id=delivery_id, article_id=article_id, now=NOW)
        reader = session.exec(select(Subscriber.id).where(Subscriber.email == "reader2@example.com")).one()
        session.connection().execute(update(Subscription).where(Subscription.subscriber_id == reader).values(
            status="unsubscribed", updated_at=NOW + timedelta(hours=1)))
    logged_in(settings, engine, client, "viewer")
    doc = client.get("/admin/charts.json").json()
    status = json.loads(digest(settings, "status", "--json", "--date", DAY).stdout)
    (letter,) = doc["newsletters"]
    (point,) = letter["editions"]
    (expected,) = status["editions"]
    assert point["edition"] == expected["edition"] == KEY
    assert {s: point[s] for s in ("sent", "bounced", "failed", "unknown")} == {
        s: expected["counts"].get(s, 0) for s in ("sent", "bounced", "failed", "unknown")}
    assert point["sent"] == 5 and point["clicks"] == 1 and point["unsubscribed"] == 1 and point["complaints"] == 0
    sizes = {p["date"]: p["subscriptions"] for p in letter["list_size"]}
    yesterday = (NOW - timedelta(days=1)).date().isoformat()  # the readers were added at NOW, one left an hour later
    assert len(sizes) == 30 and sizes[yesterday] == 0 and sizes[DAY] == 4
    assert "not unsubscribed" in doc["list_size_counts"]


def test_the_overview_has_its_charts_table_and_its_static_script(settings, engine, client, started):
    logged_in(settings, engine, client, "viewer")
    page = client.get("/admin/")
    assert '<script src="/digest/admin/static/console.js" defer></script>' in page.text and "<script>" not in page.text
    assert 'data-charts="/digest/admin/charts.json"' in page.text and f'<tr data-edition="{KEY}">' in page.text
    assert "<th scope=\"col\" class=\"n\">clicks</th>" in page.text and "List size counts" in page.text
    assert 'data-field="status" data-live' in page.text  # still sending: the script polls overview.json
    client.cookies.clear()
    for path in ("/admin/static/console.js", "/admin/static/vendor/uplot/uPlot.iife.min.js"):
        asset = client.get(path)  # the same for everyone, no data: served without a session
        assert asset.status_code == 200 and "javascript" in asset.headers["content-type"]
    assert "MIT" in client.get("/admin/static/vendor/uplot/LICENSE").text
    assert client.get("/admin/static/../admin/session.py").status_code == 404
    assert client.get("/admin/static/").status_code == 404  # no listing
    assert login(client, "viewer@example.com").status_code == 303


def test_a_leaver_counts_for_the_last_edition_they_got_before_leaving(settings, engine, smtp_settings, smtpd):
    from digest.operations.charts import overview_charts

    yesterday = NOW - timedelta(days=1)
    seed(engine, yesterday, subscribers=3)
    send_day(engine, smtp_settings, clock=lambda: yesterday, day=yesterday.date())
    seed(engine, NOW, subscribers=0)  # today's articles
    send_day(engine, smtp_settings)
    assert sorted(statuses(engine).values()) == ["sent"] * 6
    with store.session_scope(engine) as session:
        ids = dict(session.exec(select(Subscriber.email, Subscriber.id)).all())
        session.connection().execute(update(Subscription).where(Subscription.subscriber_id == ids[FEW]).values(
            status="unsubscribed", updated_at=NOW + timedelta(hours=2)))  # after today's edition
        session.connection().execute(update(Subscriber).where(Subscriber.id == ids["reader2@example.com"]).values(
            status="complained", updated_at=NOW - timedelta(hours=12)))  # between the two editions
    (letter,) = overview_charts(settings, NOW.date(), engine=engine).newsletters
    figures = {p.date: p.figures for p in letter.editions}
    assert list(figures) == [yesterday.date().isoformat(), DAY]  # oldest first
    assert (figures[DAY]["unsubscribed"], figures[DAY]["complaints"]) == (1, 0)
    assert (figures[yesterday.date().isoformat()]["unsubscribed"], figures[yesterday.date().isoformat()]["complaints"]) == (0, 1)
