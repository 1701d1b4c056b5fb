"""The REST API under /api/v1 over HTTP (Starlette's TestClient on the real app): each endpoint's happy path
and its errors, double opt-in (the confirmation reaches aiosmtpd), idempotency keys, cursor pages, the rate
limit, and every answer checked against the OpenAPI document the app serves (itself checked with
openapi-spec-validator)."""

from __future__ import annotations

import math
import re
import time
from dataclasses import replace
from datetime import timedelta

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec
from starlette.testclient import TestClient

from digest import store
from digest.operations.api_keys import create_key
from digest.operations.status import day_status
from digest.send import RecordingMailer
from digest.web import create_app
from tests.api_client import Api
from tests.conftest import NOW
from tests.factories import article, seed, send_day, subscriber

BASE = "https://news.example.com/digest"
ALL = "subscribers:read,subscribers:write,events:write,editions:read,deliveries:read"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self):
        return self.now


def make_client(settings, engine, clock=None, mailer=None) -> TestClient:
    return TestClient(create_app(settings, engine, mailer=mailer, clock=clock or (lambda: NOW)), base_url=BASE)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def mailer():
    return RecordingMailer()


@pytest.fixture
def api(settings, engine, clock, mailer):
    key = create_key(settings, name="all", scopes=ALL, now=NOW, engine=engine).key
    with make_client(settings, engine, clock, mailer) as client:
        yield Api(client, key)


def new_key(settings, engine, name: str, scopes: str) -> str:
    return create_key(settings, name=name, scopes=scopes, now=NOW, engine=engine).key


def test_the_openapi_document_is_valid_openapi_3_1_and_public(settings, engine):
    client = make_client(settings, engine, mailer=RecordingMailer())
    answer = client.get("/api/v1/openapi.json")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/json")
    doc = answer.json()
    validate_spec(doc)
    assert doc["openapi"] == "3.1.0" and doc["servers"] == [{"url": f"{BASE}/api/v1"}]
    routes = {("/subscribers", "post"), ("/subscribers", "get"), ("/subscribers/{id}", "patch"),
              ("/subscribers/{id}/unsubscribe", "post"), ("/imports", "post"), ("/editions/{key}", "get"),
              ("/deliveries", "get"), ("/events", "post"), ("/subscribers/{id}", "delete")}
    assert routes <= {(p, m) for p, ops in doc["paths"].items() for m in ops}
    posts = [op for ops in doc["paths"].values() for m, op in ops.items() if m == "post"]
    assert all(any(p["name"] == "Idempotency-Key" for p in op["parameters"]) for op in posts)


@pytest.mark.store
def test_double_opt_in_sends_the_confirmation_to_the_relay(smtp_settings, engine, smtpd):
    key = new_key(smtp_settings, engine, "site", "subscribers:write,subscribers:read")
    with make_client(smtp_settings, engine) as client:  # mailer: SMTP to aiosmtpd, as [smtp] says
        api = Api(client, key)
        made = api("POST", "/subscribers", json={
            "email": "Ann.Reader@Example.com", "name": "Ann", "consent": {"source": "homepage form"},
            "preferences": {"topics": ["Technology"], "frequency": "weekly", "weekday": "thu"}})
        assert made.status_code == 201, made.text
        doc = made.json()
        assert doc["email"] == "ann.reader@example.com" and doc["status"] == "pending"
        assert doc["consent_source"] == "api homepage form" and doc["consent_at"] is None
        assert (doc["topics"], doc["frequency"], doc["weekday"]) == (["technology"], "weekly", "thu")
        assert [s["newsletter"] for s in doc["subscriptions"]] == [smtp_settings.newsletter().key]
        assert made.headers["location"].endswith(f"/api/v1/subscribers/{doc['id']}")
        deadline = time.monotonic() + 10
        while not smtpd.handler.messages and time.monotonic() < deadline:
            time.sleep(0.05)
    [message] = smtpd.handler.messages
    assert message.rcpt_tos == ["ann.reader@example.com"]
    assert b"/digest/confirm/" in message.data and b"Subject: Confirm your subscription" in message.data


def test_confirmed_needs_its_scope_and_records_the_consent(settings, engine, mailer, api):
    body = {"email": "bo@example.com", "status": "confirmed",
            "consent": {"source": "paper form at the fair", "at": "2026-11-20T10:00:00Z"}}
    limited = new_key(settings, engine, "writer", "subscribers:write")
    refused = api("POST", "/subscribers", key=limited, json=body)
    assert refused.status_code == 403 and refused.json()["error"]["field"] == "status"
    confirmer = new_key(settings, engine, "confirmer", "subscribers:write,subscribers:confirmed")
    made = api("POST", "/subscribers", key=confirmer, json=body)
    assert made.status_code == 201, made.text
    doc = made.json()
    assert doc["status"] == "active" and doc["consent_at"] == "2026-11-20T10:00:00Z"
    assert doc["consent_source"] == "api paper form at the fair"
    no_consent = api("POST", "/subscribers", key=confirmer, json={"email": "cy@example.com", "status": "confirmed"})
    assert no_consent.status_code == 422 and no_consent.json()["error"]["field"] == "consent"
    assert mailer.messages == []  # nothing to confirm


@pytest.mark.parametrize("body, field", [
    ({"name": "No address"}, "email"),
    ({"email": "not an address"}, "email"),
    ({"email": "a@example.com", "preferences": {"frequency": "hourly"}}, "preferences.frequency"),
    ({"email": "a@example.com", "preferences": {"max_items": 500}}, "preferences.max_items"),
    ({"email": "a@example.com", "preferences": {"colour": "blue"}}, "preferences.colour"),
    ({"email": "a@example.com", "preferences": {"timezone": "Mars/Olympus"}}, "preferences.timezone"),
    ({"email": "a@example.com", "newsletters": ["nope"]}, "newsletters"),
    ({"email": "a@example.com", "consent": {"source": "x", "at": "yesterday"}}, "consent.at"),
    ({"email": "a@example.com", "consent": {"at": "2026-11-20T10:00:00Z"}}, "consent.source"),
    ({"email": "a@example.com", "status": "active"}, "status"),
    ({"email": "a@example.com", "role": "admin"}, "role"),
    (["a@example.com"], "body"),
])
def test_a_bad_subscriber_is_a_422_naming_the_field_and_stores_nothing(api, engine, body, field):
    answer = api("POST", "/subscribers", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field and answer.json()["error"]["code"] == "invalid"
    assert api("GET", "/subscribers").json()["subscribers"] == []


def test_malformed_json_is_a_400_and_an_existing_address_a_409(api):
    answer = api("POST", "/subscribers", content=b"{not json", headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.json()["error"]["field"] == "body"
    assert api("POST", "/subscribers", json={"email": "dee@example.com"}).status_code == 201
    again = api("POST", "/subscribers", json={"email": "DEE@example.com"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "exists"
    huge = api("POST", "/subscribers", json={"email": "big@example.com", "name": "x" * 70_000})
    assert huge.status_code == 413 and huge.json()["error"]["field"] == "body"


def stored(engine, emails, **kw) -> dict[str, int]:
    with store.session_scope(engine) as session:
        store.subscribers.upsert_subscribers(session, subscribers=[subscriber(e, **kw) for e in emails], now=NOW)
        return {e: store.subscribers.find_subscriber(session, email=e).id for e in emails}


def test_get_one_and_look_up_by_address_in_any_case(api, engine):
    ids = stored(engine, ["mixed.case@example.com", "other@example.com"])
    found = api("GET", "/subscribers?email=MIXED.Case@EXAMPLE.com")
    assert found.status_code == 200 and [s["id"] for s in found.json()["subscribers"]] == [
        ids["mixed.case@example.com"]]
    assert api("GET", "/subscribers?email=nobody@example.com").json() == {"subscribers": [], "next_cursor": None}
    bad = api("GET", "/subscribers?email=nonsense")
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "email"
    one = api("GET", f"/subscribers/{ids['other@example.com']}")
    assert one.status_code == 200 and one.json()["email"] == "other@example.com"
    missing = api("GET", "/subscribers/999999")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    for huge in (2**31, 10**30):
        assert api("GET", f"/subscribers/{huge}").status_code == 404
        assert api("POST", f"/subscribers/{huge}/unsubscribe").status_code == 404


@pytest.mark.store
def test_cursor_pages_visit_every_subscriber_once(api, engine):
    emails = [f"reader{i:03}@example.com" for i in range(250)]
    ids = stored(engine, emails)
    with store.session_scope(engine) as session:
        for email in emails[::10]:
            store.subscribers.set_subscriber_status(session, subscriber_id=ids[email], status="unsubscribed",
                                                    now=NOW, only_from=("active",))
    seen, cursor, pages = [], None, 0
    while True:
        answer = api("GET", f"/subscribers?limit=37{'&cursor=' + cursor if cursor else ''}")
        assert answer.status_code == 200
        page = answer.json()
        seen += [s["id"] for s in page["subscribers"]]
        pages, cursor = pages + 1, page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids.values()) and len(seen) == len(set(seen)) == 250
    assert pages == math.ceil(250 / 37)
    left = api("GET", "/subscribers?status=unsubscribed&limit=200").json()["subscribers"]
    assert sorted(s["email"] for s in left) == sorted(emails[::10])
    assert all(s["status"] == "unsubscribed" for s in left)
    for query, field in (("cursor=bogus", "cursor"), ("limit=0", "limit"), ("limit=201", "limit"),
                         ("status=sleeping", "status")):
        wrong = api("GET", f"/subscribers?{query}")
        assert wrong.status_code == 422 and wrong.json()["error"]["field"] == field


def test_patch_changes_preferences_and_subscriptions_all_or_nothing(api, engine, settings):
    sid = stored(engine, ["pat@example.com"])["pat@example.com"]
    key = settings.newsletter().key
    with store.session_scope(engine) as session:
        store.subscriptions.subscribe(session, subscriber_ids=[sid], newsletters=[key], now=NOW)
    changed = api("PATCH", f"/subscribers/{sid}", json={
        "preferences": {"frequency": "weekly", "weekday": "fri", "countries": ["DE", "FR"]},
        "subscriptions": {key: {"topics": ["science"], "max_items": 5}}})
    assert changed.status_code == 200, changed.text
    doc = changed.json()
    assert (doc["frequency"], doc["weekday"], doc["countries"]) == ("weekly", "fri", ["DE", "FR"])
    [sub] = doc["subscriptions"]
    assert (sub["topics"], sub["max_items"], sub["status"]) == (["science"], 5, "active")
    reset = api("PATCH", f"/subscribers/{sid}", json={"subscriptions": {key: {"topics": None}}}).json()
    assert reset["subscriptions"][0]["topics"] is None and reset["subscriptions"][0]["max_items"] == 5
    for body, field in (({"preferences": {"weekday": "someday"}}, "preferences.weekday"),
                        ({"preferences": {"topics": None}}, "preferences.topics"),
                        ({"subscriptions": {"nope": {"status": "active"}}}, "subscriptions.nope"),
                        ({"subscriptions": {key: {"status": "paused"}}}, f"subscriptions.{key}.status"),
                        ({"preferences": {"frequency": "daily"}, "subscriptions": {key: {"format": "pdf"}}},
                         f"subscriptions.{key}.format")):
        wrong = api("PATCH", f"/subscribers/{sid}", json=body)
        assert wrong.status_code == 422 and wrong.json()["error"]["field"] == field, wrong.text
    assert api("GET", f"/subscribers/{sid}").json()["frequency"] == "weekly"  # the last one changed nothing
    daily = api("PATCH", f"/subscribers/{sid}", json={"preferences": {"frequency": "daily"}}).json()
    assert (daily["frequency"], daily["weekday"]) == ("daily", None)  # a daily reader has no weekday
    left = api("PATCH", f"/subscribers/{sid}", json={"subscriptions": {key: {"status": "unsubscribed"}}}).json()
    assert left["subscriptions"][0]["status"] == "unsubscribed" and left["status"] == "active"
    assert api("PATCH", "/subscribers/999999", json={}).status_code == 404


def test_unsubscribe_one_newsletter_then_all_and_erase(api, engine, settings):
    sid = stored(engine, ["una@example.com"])["una@example.com"]
    key = settings.newsletter().key
    with store.session_scope(engine) as session:
        store.subscriptions.subscribe(session, subscriber_ids=[sid], newsletters=[key], now=NOW)
    one = api("POST", f"/subscribers/{sid}/unsubscribe", json={"newsletter": key}).json()
    assert one["subscriptions"][0]["status"] == "unsubscribed" and one["status"] == "active"
    wrong = api("POST", f"/subscribers/{sid}/unsubscribe", json={"newsletter": "nope"})
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "newsletter"
    everything = api("POST", f"/subscribers/{sid}/unsubscribe")
    assert everything.status_code == 200 and everything.json()["status"] == "unsubscribed"
    assert api("POST", "/subscribers/999999/unsubscribe").status_code == 404
    erased = api("DELETE", f"/subscribers/{sid}")
    assert erased.status_code == 200 and erased.json() == {"id": sid, "erased": True, "deliveries": 0}
    assert api("GET", f"/subscribers/{sid}").status_code == 404
    assert api("DELETE", f"/subscribers/{sid}").status_code == 404
    back = api("POST", "/subscribers", json={"email": "una@example.com"})
    assert back.status_code == 409 and back.json()["error"]["code"] == "suppressed"


def wait_for(api, job_id: int) -> dict:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        job = api("GET", f"/imports/{job_id}").json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"import {job_id} did not finish")


@pytest.mark.store
def test_an_import_runs_as_a_job_with_a_status(api, engine):
    stored(engine, ["known@example.com"])
    csv = "email,name,topics\n" + "".join(f"new{i}@example.com,New {i},science\n" for i in range(30))
    csv += "known@example.com,Known Again,\n"
    queued = api("POST", "/imports", content=csv.encode(), headers={"Content-Type": "text/csv"})
    assert queued.status_code == 202 and queued.json()["status"] in ("queued", "running", "done")
    job = wait_for(api, queued.json()["id"])
    assert job["status"] == "done" and job["total"] == 31 and job["error"] is None
    assert (job["counts"]["new"], job["counts"]["updated"]) == (30, 1)
    listed = api("GET", "/subscribers?limit=200").json()["subscribers"]
    assert len(listed) == 31 and {s["name"] for s in listed} >= {"New 0", "Known Again"}
    bad = api("POST", "/imports", content=b"email,name\nfine@example.com,Fine\nnot-an-address,Bad\n")
    failed = wait_for(api, bad.json()["id"])
    assert failed["status"] == "failed" and ":3:" in failed["error"] and "email" in failed["error"]
    assert api("GET", "/subscribers?email=fine@example.com").json()["subscribers"] == []  # all or nothing
    assert api("GET", "/imports/999999").status_code == 404


def test_an_import_may_be_bigger_than_a_form(api):
    csv = "email,name\n" + "".join(f"bulk{i:05}@example.com,Reader number {i}\n" for i in range(3000))
    assert len(csv) > 64_000  # the cap of a form's body
    job = wait_for(api, api("POST", "/imports", content=csv.encode()).json()["id"])
    assert job["status"] == "done" and job["counts"]["new"] == 3000


def test_events_follow_the_rules_of_post_events(api, engine):
    with store.session_scope(engine) as session:
        store.articles.upsert_articles(session, articles=[article(1, NOW - timedelta(hours=2))], now=NOW)
    at = (NOW - timedelta(minutes=30)).isoformat()
    rows = [{"url": "https://news.example.com/a/1", "kind": "view", "count": 7, "at": at}]
    done = api("POST", "/events", json=rows)
    assert done.status_code == 200 and done.json() == {"events": 1, "buckets": 1}
    unknown = api("POST", "/events", json=[*rows, {"url": "https://news.example.com/a/404", "kind": "view",
                                                   "count": 1, "at": at}])
    assert unknown.status_code == 422 and "no stored article" in unknown.json()["error"]["message"]
    lines = api("POST", "/events", content=b'{"url": "https://news.example.com/a/1", "kind": "bogus", "at": "x"}\n')
    assert lines.status_code == 422 and lines.json()["error"]["field"] == "body"
    scoped = api("POST", "/events", key=new_key(api_settings(api), engine, "reader", "subscribers:read"), json=rows)
    assert scoped.status_code == 403


def api_settings(api):
    return api.client.app.state.ctx.settings


@pytest.mark.store
def test_editions_carry_the_figures_of_digest_status_and_deliveries_are_found(engine, smtp_settings, smtpd):
    seed(engine, NOW, articles=6, subscribers=3)
    send_day(engine, smtp_settings)
    key = new_key(smtp_settings, engine, "reports", "editions:read,deliveries:read")
    api = Api(make_client(smtp_settings, engine, mailer=RecordingMailer()), key)
    status = day_status(smtp_settings, NOW.date(), engine=engine).doc()
    listed = api("GET", "/editions")
    assert listed.status_code == 200, listed.text
    [edition] = listed.json()["editions"]
    expected = status["editions"][0]
    assert {k: edition[k] for k in ("edition", "status", "counts", "total", "newsletter")} == {
        k: expected[k] for k in ("edition", "status", "counts", "total", "newsletter")}
    assert edition["counts"] == {"sent": 3} and edition["date"] == NOW.date().isoformat()
    assert api("GET", f"/editions?date={NOW.date()}").json()["editions"] == [edition]
    assert api("GET", "/editions?date=2000-01-01").json()["editions"] == []
    assert api("GET", "/editions?date=someday").json()["error"]["field"] == "date"
    assert api("GET", f"/editions/{edition['edition']}").json() == edition
    assert api("GET", "/editions/nope:2026-01-01").status_code == 404
    with store.read_session(engine) as session:
        reader = store.subscribers.find_subscriber(session, email="reader1@example.com")
    mine = api("GET", f"/deliveries?subscriber={reader.id}").json()
    [delivery] = mine["deliveries"]
    assert mine["total"] == 1 and delivery["status"] == "sent" and delivery["subscriber_id"] == reader.id
    assert delivery["edition"] == edition["edition"] and delivery["message_id"].startswith("<")
    by_id = api("GET", f"/deliveries?message_id={delivery['message_id'].strip('<>')}").json()
    assert by_id["deliveries"] == [delivery]
    assert api("GET", "/deliveries?message_id=<nobody@example.com>").json() == {"deliveries": [], "total": 0}
    assert api("GET", "/deliveries").status_code == 422
    assert api("GET", "/deliveries?subscriber=999999").status_code == 404
    assert api("GET", f"/deliveries?subscriber={10**30}").status_code == 404


@pytest.mark.store
def test_an_idempotency_key_replays_the_first_answer_and_refuses_another_body(api, engine, settings, clock,
                                                                               mailer):
    body = {"email": "idem@example.com", "name": "Idem"}
    first = api("POST", "/subscribers", json=body, headers={"Idempotency-Key": "signup-1"})
    assert first.status_code == 201 and len(mailer.messages) == 1
    again = api("POST", "/subscribers", json=body, headers={"Idempotency-Key": "signup-1"})
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true" and len(mailer.messages) == 1
    other = api("POST", "/subscribers", json={**body, "name": "Changed"}, headers={"Idempotency-Key": "signup-1"})
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_conflict"
    without = api("POST", "/subscribers", json=body)
    assert without.status_code == 409  # no key: done again, and the address exists now
    second_key = new_key(settings, engine, "other", "subscribers:write")
    theirs = api("POST", "/subscribers", key=second_key, json={"email": "two@example.com"},
                 headers={"Idempotency-Key": "signup-1"})
    assert theirs.status_code == 201  # another API key's Idempotency-Keys are its own
    clock.now = NOW + timedelta(hours=25)
    later = api("POST", "/subscribers", json=body, headers={"Idempotency-Key": "signup-1"})
    assert later.status_code == 409  # after 24 hours the key is forgotten: the request runs again
    assert len(api("GET", "/subscribers").json()["subscribers"]) == 2


def test_the_rate_limit_counts_per_key_and_answers_429_with_retry_after(settings, engine):
    limited = replace(settings, api=replace(settings.api, rate_limit="3/minute"))
    first, second = new_key(limited, engine, "a", "editions:read"), new_key(limited, engine, "b", "editions:read")
    api = Api(make_client(limited, engine, mailer=RecordingMailer()), first)
    assert [api("GET", "/editions").status_code for _ in range(3)] == [200, 200, 200]
    over = api("GET", "/editions")
    assert over.status_code == 429 and over.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(over.headers["retry-after"]) <= 60
    assert api("GET", "/editions", key=second).status_code == 200


def test_every_refusal_has_the_one_error_shape(api):
    for method, path, status in (("GET", "/api/v1/nothing", 404), ("PUT", "/api/v1/subscribers", 405),
                                 ("GET", "/api/v1/subscribers/abc", 404)):
        answer = api.client.request(method, path, headers={"Authorization": f"Bearer {api.key}"})
        assert answer.status_code == status, (method, path)
        error = {"$ref": "#/components/schemas/Error", "components": api.doc["components"]}
        assert list(Draft202012Validator(error).iter_errors(answer.json())) == []


def test_the_document_check_catches_an_answer_that_drifted(api):
    made = api("POST", "/subscribers", json={"email": "drift@example.com"})
    drifted = {**made.json(), "password": "x"}
    schema = {"$ref": "#/components/schemas/Subscriber", "components": api.doc["components"]}
    assert list(Draft202012Validator(schema).iter_errors(made.json())) == []
    assert [e.validator for e in Draft202012Validator(schema).iter_errors(drifted)] == ["additionalProperties"]
    assert list(Draft202012Validator(schema).iter_errors({**made.json(), "status": "sleeping"}))


def test_each_route_is_in_the_document_with_the_scope_its_handler_checks(api):
    from digest.web.api_v1 import ROUTES

    routes = {(re.sub(r":\w+\}", "}", r.path), m.lower()): getattr(r.endpoint, "scope", None)
              for r in ROUTES for m in r.methods if m != "HEAD"}
    documented = {(p, m): op.get("x-scope") for p, ops in api.doc["paths"].items() for m, op in ops.items()}
    assert routes.pop(("/openapi.json", "get")) is None  # the one public route
    assert routes == documented
    assert all(op["security"] == [{"bearer": [op["x-scope"]]}] for ops in api.doc["paths"].values()
               for op in ops.values())


def test_a_bad_rate_limit_is_one_line_naming_the_key(tmp_path):
    from digest.config import load_settings
    from digest.errors import ConfigError
    from tests.conftest import ROOT

    assert load_settings(ROOT / "config.toml", environ={}).api.rate_limit == "600/minute"
    assert load_settings(ROOT / "config.toml", environ={"DIGEST_API_RATE_LIMIT": "10/second;1000/hour"}
                         ).api.rate_limit == "10/second;1000/hour"
    with pytest.raises(ConfigError) as bad:
        load_settings(ROOT / "config.toml", environ={"DIGEST_API_RATE_LIMIT": "lots"})
    assert "[api] rate_limit" in str(bad.value) and "\n" not in str(bad.value)
    path = tmp_path / "config.toml"
    path.write_text('[api]\nrate_limits = "1/minute"\n')
    with pytest.raises(ConfigError, match=r"\[api\] rate_limits: unknown key"):
        load_settings(path, environ={})
