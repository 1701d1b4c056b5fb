"""Counts are atomic and honest: engagement from parallel POST /events and parallel clicks adds up exactly, through
uvicorn with real concurrency, on SQLite and PostgreSQL; a click counts once per delivery and article (replays,
HEAD requests and scanners' prefetches add nothing); huge or non-finite counts are a 422."""

from __future__ import annotations

import asyncio
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select

from digest import store
from digest.models import Engagement
from digest.pipeline import run_day
from digest.send import RecordingMailer
from digest.web import create_app
from tests.conftest import NOW
from tests.factories import seed
from tests.served import Served

pytestmark = pytest.mark.store

EVENTS_TOKEN = "events-test-token"
AUTH = {"Authorization": f"Bearer {EVENTS_TOKEN}"}
PARALLEL = 200


@pytest.fixture
def tracking(settings):
    return replace(settings, events_token=EVENTS_TOKEN, web=replace(settings.web, click_tracking=True))


def total(engine, article_id: int, kind: str) -> int:
    with store.read_session(engine) as session:
        return session.exec(select(func.coalesce(func.sum(Engagement.count), 0)).where(
            Engagement.article_id == article_id, Engagement.kind == kind)).one()


def in_parallel(calls, workers: int = 50) -> list:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda call: call(), calls))


def test_parallel_events_all_count(engine, tracking):
    seed(engine, NOW, subscribers=1)
    before = total(engine, 2, "share")
    at = (NOW - timedelta(minutes=20)).isoformat()
    body = json.dumps([{"article_id": 2, "kind": "share", "count": 1, "at": at}])
    with Served(create_app(tracking, engine, mailer=RecordingMailer(), clock=lambda: NOW)) as server:
        url = f"{server.url}/digest/events"
        codes = in_parallel([lambda: httpx.post(url, content=body, headers=AUTH, timeout=120).status_code] * PARALLEL)
    assert codes == [200] * PARALLEL
    assert total(engine, 2, "share") - before == PARALLEL


def test_a_click_counts_once_per_delivery_and_article(engine, tracking):
    seed(engine, NOW, subscribers=2)
    sent = RecordingMailer()
    asyncio.run(run_day(engine, tracking, sent, NOW.date(), clock=lambda: NOW))
    html = {m.recipient: m.data.decode() for m in sent.messages}
    links = {who: sorted(set(re.findall(r'href=3D"https://news\.example\.com(/digest/c/[^"]+)"', text.replace("=\r\n", ""))
                             or re.findall(r'href="https://news\.example\.com(/digest/c/[^"]+)"', text)))
             for who, text in html.items()}
    first, second = links["reader1@example.com"][:2], links["reader2@example.com"][:1]
    assert first and second
    clicks_before = {a: total(engine, a, "click") for a in range(1, 60)}
    with Served(create_app(tracking, engine, mailer=RecordingMailer(), clock=lambda: NOW)) as server:
        def get(path, method="GET"):
            return lambda: httpx.request(method, server.url + path, timeout=120, follow_redirects=False).status_code
        calls = [get(first[0])] * 60 + [get(first[0], "HEAD")] * 20 + [get(first[1])] * 30 + [get(second[0])] * 30
        codes = in_parallel(calls)
    assert codes == [302] * len(calls)
    added = {a: total(engine, a, "click") - n for a, n in clicks_before.items() if total(engine, a, "click") != n}
    # three (delivery, article) pairs were clicked, each many times: three clicks in all, one per pair
    assert sum(added.values()) == 3 and all(n in (1, 2) for n in added.values()), added


def test_head_requests_count_nothing(engine, tracking):
    seed(engine, NOW, subscribers=1)
    sent = RecordingMailer()
    asyncio.run(run_day(engine, tracking, sent, NOW.date(), clock=lambda: NOW))
    text = sent.messages[0].data.decode().replace("=\r\n", "").replace("=3D", "=")
    path = re.search(r'href="https://news\.example\.com(/digest/c/[^"]+)"', text).group(1)
    before = store_clicks(engine)
    with Served(create_app(tracking, engine, mailer=RecordingMailer(), clock=lambda: NOW)) as server:
        for _ in range(5):
            assert httpx.head(server.url + path).status_code == 302
        assert store_clicks(engine) == before
        assert httpx.get(server.url + path).status_code == 302
        assert httpx.get(server.url + path).status_code == 302  # a replay
    assert store_clicks(engine) == before + 1


def store_clicks(engine) -> int:
    with store.read_session(engine) as session:
        return session.exec(select(func.coalesce(func.sum(Engagement.count), 0)).where(
            Engagement.kind == "click")).one()


@pytest.mark.parametrize("count", ["1e400", "-1e400", "NaN", "Infinity", "100000000000000000000000000000", "2.5",
                                   "-3", "9223372036854775808"])
def test_huge_or_non_finite_counts_are_a_422(engine, tracking, count):
    seed(engine, NOW, subscribers=1)
    with store.read_session(engine) as session:
        before = store.engagement.count_engagement(session)
    body = '[{"article_id": 1, "kind": "view", "count": %s, "at": "%s"}]' % (count, NOW.isoformat())
    response = post_events(engine, tracking, body)
    assert response.status_code == 422, response.text
    assert "body:1: count" in " ".join(response.json()["error"])
    with store.read_session(engine) as session:
        assert store.engagement.count_engagement(session) == before


def post_events(engine, settings, body: str):
    """One POST /events through the app in-process (a 500 comes back as a response, not an exception)."""
    from starlette.testclient import TestClient

    with TestClient(create_app(settings, engine, mailer=RecordingMailer()), raise_server_exceptions=False,
                    base_url="https://news.example.com/digest") as client:
        return client.post("/events", content=body, headers=AUTH)


def test_a_bucket_saturates_instead_of_overflowing(engine):
    seed(engine, NOW, subscribers=1)
    with store.session_scope(engine) as session:
        for _ in range(3):
            store.engagement.add_engagement(session, events=[(3, NOW, "comment", 10_000_000)] * 100)
    assert total(engine, 3, "comment") == 2**31 - 1


@pytest.mark.parametrize("article_id", ["2147483648", "9223372036854775808", "99999999999999999999999", "1.5", "true",
                                        "-4"])
def test_huge_fractional_or_boolean_article_ids_are_a_422(engine, tracking, article_id):
    """Not a 500 (PostgreSQL's integer out of range), and 1.5 or true is not article 1."""
    seed(engine, NOW, subscribers=1)
    body = '[{"article_id": %s, "kind": "view", "count": 2, "at": "%s"}]' % (article_id, NOW.isoformat())
    response = post_events(engine, tracking, body)
    assert response.status_code == 422, response.text
    assert "body:1: " in " ".join(response.json()["error"])
    assert total(engine, 1, "view") == 0


def test_a_count_of_zero_adds_nothing(engine, tracking):
    seed(engine, NOW, subscribers=1)
    body = json.dumps([{"article_id": 1, "kind": "comment", "count": 0, "at": NOW.isoformat()},
                       {"article_id": 1, "kind": "comment", "at": NOW.isoformat()}])  # no count: one event
    assert post_events(engine, tracking, body).status_code == 200
    assert total(engine, 1, "comment") == 1
