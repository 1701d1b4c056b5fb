"""Outbound webhooks: events written to the outbox in the transaction of their change, posted to a real local
HTTP server and verified there with the Standard Webhooks library; retries with backoff, disabling, two passes at
once, and `digest webhooks` on the command line."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func
from sqlmodel import select
from standardwebhooks import Webhook
from starlette.testclient import TestClient

from digest import store
from digest.models import DeliveryStatus, SubscriberStatus, WebhookAttempt, WebhookEvent, WebhookLog
from digest.operations import webhooks as ops
from digest.operations.bounces import import_bounces
from digest.operations.readers import suppress_reader
from digest.pipeline import run_day
from digest.send import RecordingMailer
from digest.web import create_app
from digest.webhooks import deliver_due
from tests.conftest import NOW
from tests.factories import seed, send_day
from tests.test_bounces import bounce_of, sent
from tests.test_cli import Digest
from tests.test_web import BASE, one_click_path

pytestmark = pytest.mark.store


class Receiver:
    """A local HTTP server: answers each POST with the next scripted status (then 200), keeps each request and
    whether `Webhook(secret).verify` accepted it."""

    def __init__(self, statuses=()):
        self.statuses, self.requests, self.secret, self.lock = list(statuses), [], None, threading.Lock()
        self.delay = 0.0  # seconds before answering
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:  # the answer is chosen on arrival, whatever the delay
                    status, delay = (receiver.statuses.pop(0) if receiver.statuses else 200), receiver.delay
                    receiver.requests.append({"headers": headers, "body": body, "verified": receiver.check(body, headers)})
                time.sleep(delay)
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def check(self, body: bytes, headers: dict):
        try:
            return Webhook(self.secret).verify(body, headers)
        except Exception as exc:  # noqa: BLE001 — recorded: the test asserts on it
            return repr(exc)

    def events(self, type: str | None = None) -> list[dict]:
        found = [json.loads(r["body"]) for r in self.requests]
        return [e for e in found if type is None or e["type"] == type]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def real_now() -> datetime:
    return datetime.now(timezone.utc)  # what the receiver's verify() checks the signature's timestamp against


def endpoint(settings, engine, receiver, events: str) -> int:
    added = ops.add_endpoint(settings, receiver.url, events=events, now=NOW, engine=engine)
    receiver.secret = added.secret
    return added.endpoint.id


def deliver(engine, settings, now=None):
    return asyncio.run(deliver_due(engine, settings, now=now or real_now()))


def rows(engine, model) -> int:
    with store.read_session(engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_a_real_send_posts_delivery_sent_per_reader_and_edition_done_once(engine, smtp_settings, receiver):
    seed(engine, NOW, subscribers=3)
    endpoint(smtp_settings, engine, receiver, "delivery.sent,edition.done")
    send_day(engine, smtp_settings)
    report = deliver(engine, smtp_settings)
    assert report.delivered == 4 and report.retrying == 0
    assert all(r["verified"] == json.loads(r["body"]) for r in receiver.requests), receiver.requests
    sent_events = receiver.events("delivery.sent")
    assert sorted(e["data"]["email"] for e in sent_events) == [f"reader{i}@example.com" for i in (1, 2, 3)]
    one = sent_events[0]["data"]
    assert one["edition"] == "digest:2026-11-27" and one["newsletter"] == "digest" and one["smtp_code"] == 250
    assert one["message_id"].startswith("<") and one["delivery_id"] and one["subscriber_id"]
    [done] = receiver.events("edition.done")
    assert done["data"]["counts"] == {"sent": 3} and done["timestamp"].endswith("Z")
    send_day(engine, smtp_settings)  # nothing left to send: the edition is not done a second time
    assert deliver(engine, smtp_settings).delivered == 0 and len(receiver.events("edition.done")) == 1


def test_a_refused_recipient_gives_delivery_failed(engine, smtp_settings, smtpd, receiver):
    seed(engine, NOW, subscribers=2)
    smtpd.handler.rcpt_replies["reader2@example.com"] = "550 5.1.1 <reader2@example.com>: no such user"
    endpoint(smtp_settings, engine, receiver, "delivery.failed")
    send_day(engine, smtp_settings)
    deliver(engine, smtp_settings)
    [failed] = receiver.events()
    assert failed["type"] == "delivery.failed" and failed["data"]["email"] == "reader2@example.com"
    assert failed["data"]["smtp_code"] == 550 and "no such user" in failed["data"]["smtp_reply"]
    assert receiver.requests[0]["verified"] == failed


def test_a_message_that_cannot_be_built_gives_delivery_failed(engine, smtp_settings, receiver):
    from tests.factories import subscriber

    with store.session_scope(engine) as session:  # an address that slipped past validation: no message for it
        store.subscribers.upsert_subscribers(session, subscribers=[subscriber("jörg@example.com")], now=NOW)
    seed(engine, NOW, subscribers=1)
    endpoint(smtp_settings, engine, receiver, "delivery.failed,delivery.sent")
    send_day(engine, smtp_settings)
    deliver(engine, smtp_settings)
    got = sorted((e["type"], e["data"]["email"]) for e in receiver.events())
    assert got == [("delivery.failed", "jörg@example.com"), ("delivery.sent", "reader1@example.com")]
    assert receiver.events("delivery.failed")[0]["data"]["error"].startswith("cannot build the message")


def test_one_click_unsubscribe_gives_subscriber_unsubscribed_once(engine, settings, receiver):
    seed(engine, NOW, subscribers=2)
    mailer = RecordingMailer()
    asyncio.run(run_day(engine, settings, mailer, NOW.date(), clock=lambda: NOW))
    endpoint(settings, engine, receiver, "subscriber.unsubscribed")
    path = one_click_path(next(m for m in mailer.messages if m.recipient == "reader1@example.com"))
    with TestClient(create_app(settings, engine, mailer=mailer, clock=lambda: NOW), base_url=BASE) as client:
        for _ in range(2):  # the second click changes nothing: no second event
            assert client.post(path, content=b"List-Unsubscribe=One-Click").status_code == 200
    deliver(engine, settings)
    [event] = receiver.events()
    assert event["type"] == "subscriber.unsubscribed" and receiver.requests[0]["verified"] == event
    assert event["data"]["email"] == "reader1@example.com" and event["data"]["newsletter"] == "digest"


def test_a_bounce_import_gives_delivery_bounced(engine, settings, receiver):
    _, delivery_id = sent(engine, "reader@remote.example", 27)
    endpoint(settings, engine, receiver, "delivery.bounced")
    summary = import_bounces(engine, settings, [bounce_of(settings, delivery_id, status="5.1.1")], now=NOW)
    assert summary.recorded == 1
    deliver(engine, settings)
    [event] = receiver.events()
    assert event["type"] == "delivery.bounced" and receiver.requests[0]["verified"] == event
    assert event["data"]["delivery_id"] == delivery_id and event["data"]["kind"] == "hard"
    assert event["data"]["email"] == "reader@remote.example" and event["data"]["edition"] == "digest:2026-11-27"


def test_the_console_suppress_the_cli_remove_and_a_complaint_emit_their_events(engine, settings, receiver):
    seed(engine, NOW, subscribers=3)
    endpoint(settings, engine, receiver, "subscriber.unsubscribed,subscriber.complained")
    with store.read_session(engine) as session:
        ids = [store.subscribers.find_subscriber(session, email=f"reader{i}@example.com").id for i in (1, 2, 3)]
    suppress_reader(engine, ids[0], now=NOW)
    from digest.operations.subscribers import remove_subscriber
    remove_subscriber(settings, "reader2@example.com", now=NOW, engine=engine)
    with store.session_scope(engine) as session:  # where a complaint is recorded, it suppresses through here
        store.subscribers.set_subscriber_status(session, subscriber_id=ids[2], status=SubscriberStatus.complained,
                                                now=NOW, only_from=(SubscriberStatus.active,))
    deliver(engine, settings)
    got = sorted((e["type"], e["data"]["email"], e["data"].get("source")) for e in receiver.events())
    assert got == [("subscriber.complained", "reader3@example.com", None),
                   ("subscriber.unsubscribed", "reader1@example.com", "console"),
                   ("subscriber.unsubscribed", "reader2@example.com", "removed")]


def test_an_event_exists_only_if_its_change_was_committed(engine, settings, receiver):
    _, delivery_id = sent(engine, "reader@remote.example", 27)
    endpoint(settings, engine, receiver, "delivery.sent")
    outcome = {"id": delivery_id, "status": DeliveryStatus.sent, "smtp_code": 250, "smtp_reply": "2.0.0 OK",
               "error": None, "next_attempt_at": None, "sent_at": NOW}
    with pytest.raises(RuntimeError):
        with store.session_scope(engine) as session:
            store.deliveries.record_outcomes(session, outcomes=[outcome], now=NOW)
            assert store.webhooks.emit_outcomes(session, outcomes=[outcome], now=NOW) == 1
            raise RuntimeError("the recording fails after the emit")
    assert rows(engine, WebhookEvent) == 0 and rows(engine, WebhookAttempt) == 0
    with store.session_scope(engine) as session:
        store.webhooks.emit_outcomes(session, outcomes=[outcome], now=NOW)
    assert rows(engine, WebhookEvent) == 1 and rows(engine, WebhookAttempt) == 1


def test_no_endpoint_writes_no_row_and_an_unwanted_type_none_either(engine, smtp_settings, receiver):
    seed(engine, NOW, subscribers=3)
    send_day(engine, smtp_settings)
    assert rows(engine, WebhookEvent) == 0 and rows(engine, WebhookAttempt) == 0
    endpoint(smtp_settings, engine, receiver, "subscriber.complained")
    send_day(engine, smtp_settings, day=NOW.date() + timedelta(days=1),
             clock=lambda: NOW + timedelta(days=1))
    assert rows(engine, WebhookEvent) == 0 and deliver(engine, smtp_settings).delivered == 0


def test_a_failed_attempt_is_retried_with_backoff_and_keeps_its_webhook_id(engine, settings, receiver):
    receiver.statuses = [500]
    endpoint(settings, engine, receiver, "edition.done")
    with store.session_scope(engine) as session:
        event_id = store.webhooks.emit(session, type="edition.done", data={"edition": "x"}, now=NOW)
    t0 = real_now()
    assert deliver(engine, settings, t0).retrying == 1
    with store.read_session(engine) as session:
        attempt = session.exec(select(WebhookAttempt)).one()
    assert (attempt.status, attempt.attempts, attempt.last_status_code) == ("pending", 1, 500)
    base = settings.webhooks.retry_base_seconds
    assert t0 + timedelta(seconds=base) <= attempt.next_attempt_at <= t0 + timedelta(seconds=base * 1.25)
    assert deliver(engine, settings, t0 + timedelta(seconds=base / 2)).delivered == 0  # not due yet
    assert deliver(engine, settings, attempt.next_attempt_at).delivered == 1
    assert [r["headers"]["webhook-id"] for r in receiver.requests] == [f"msg_{event_id}"] * 2
    assert all(r["verified"] == {"type": "edition.done", "timestamp": "2026-11-27T07:00:00Z",
                                 "data": {"edition": "x"}} for r in receiver.requests)
    log = ops.attempt_log(settings, receiver.url, engine=engine)
    assert [(line.status_code, line.state) for line in log] == [(200, "delivered"), (500, "delivered")]
    assert "HTTP 500" in log[1].error


def test_an_endpoint_failing_for_disable_after_hours_is_disabled_then_enabled(engine, settings, receiver):
    settings = replace(settings, webhooks=replace(settings.webhooks, disable_after_hours=2))
    receiver.statuses = [500] * 3
    endpoint_id = endpoint(settings, engine, receiver, "edition.done")
    with store.session_scope(engine) as session:
        store.webhooks.emit(session, type="edition.done", data={}, now=NOW)
    assert deliver(engine, settings, NOW).disabled == []
    assert deliver(engine, settings, NOW + timedelta(hours=1)).disabled == []  # failing 1 h: not yet
    report = deliver(engine, settings, NOW + timedelta(hours=2, minutes=1))
    assert len(report.disabled) == 1 and "failing since 2026-11-27 07:00 UTC" in report.disabled[0]
    [listed] = ops.list_endpoints(settings, engine=engine)
    assert not listed.enabled and "HTTP 500" in listed.disabled_reason and listed.counts == {"failed": 1}
    assert deliver(engine, settings, NOW + timedelta(days=1)).answers == []  # a disabled endpoint gets nothing
    assert "1 failed attempts due again" in ops.enable_endpoint(settings, str(endpoint_id), now=NOW, engine=engine)
    assert deliver(engine, settings, NOW + timedelta(days=1)).delivered == 1
    assert ops.list_endpoints(settings, engine=engine)[0].counts == {"delivered": 1} and len(receiver.requests) == 4


def test_two_passes_at_once_post_each_attempt_once(engine, settings, receiver):
    endpoint(settings, engine, receiver, "edition.done")
    with store.session_scope(engine) as session:
        store.webhooks.emit_many(session, type="edition.done", items=[{"n": i} for i in range(40)], now=NOW)
    reports, now = [], real_now()
    threads = [threading.Thread(target=lambda: reports.append(deliver(engine, settings, now))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [r["headers"]["webhook-id"] for r in receiver.requests]
    assert len(ids) == 40 and len(set(ids)) == 40 and sum(r.delivered for r in reports) == 40
    assert rows(engine, WebhookLog) == 40


def test_cli_add_prints_the_secret_last_list_hides_it_bad_input_is_one_line(tmp_path, store_url, receiver):
    digest = Digest(tmp_path, store_url)
    added = digest("webhooks", "add", receiver.url, "--events", "delivery.sent,edition.done", "--name", "crm")
    assert added.exit_code == 0, added.output
    secret = added.stdout.strip().splitlines()[-1]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) >= 24
    listed = digest("webhooks", "list")
    assert receiver.url in listed.stdout and "crm" in listed.stdout and secret[6:] not in listed.stdout
    [doc] = digest.json("webhooks", "list")
    assert doc["events"] == ["delivery.sent", "edition.done"] and secret[6:] not in json.dumps(doc)
    receiver.secret = secret
    tested = digest("webhooks", "test", str(doc["id"]))
    assert tested.exit_code == 0 and "HTTP 200" in tested.stdout, tested.output
    assert receiver.events()[0]["type"] == "webhook.test" and receiver.requests[0]["verified"]["type"] == "webhook.test"
    for args, word in ((("add", "ftp://x.org/", "--events", "edition.done"), "URL"),
                       (("add", receiver.url, "--events", "delivery.opened"), "unknown event"),
                       (("remove", "https://nowhere.example/"), "no webhook endpoint")):
        result = digest("webhooks", *args)
        assert result.exit_code == 1 and word in result.output and len(result.output.strip().splitlines()) == 1
    assert len(digest.json("webhooks", "list")) == 1
    assert "removed webhook endpoint" in digest("webhooks", "remove", receiver.url).stdout
    assert digest.json("webhooks", "list") == []


def test_the_daemons_job_delivers_and_an_endpoint_removed_mid_pass_breaks_nothing(engine, settings, receiver):
    endpoint_id = endpoint(settings, engine, receiver, "edition.done")
    with store.session_scope(engine) as session:
        store.webhooks.emit_many(session, type="edition.done", items=[{"n": 1}, {"n": 2}], now=NOW)
    report = ops.webhooks_job(engine, replace(settings, webhooks=replace(settings.webhooks, batch_size=1)),
                              real_now)()
    assert report.delivered == 1 and len(receiver.requests) == 1  # one pass: at most batch_size attempts
    from digest.webhooks import deliver_jobs, lease_until
    with store.session_scope(engine) as session:
        jobs = store.webhook_outbox.claim_due(session, now=real_now(), lease_until=lease_until(settings, real_now()),
                                              limit=10)
    assert len(jobs) == 1
    ops.remove_endpoint(settings, str(endpoint_id), engine=engine)
    late = asyncio.run(deliver_jobs(engine, settings, jobs, now=real_now()))
    assert len(late.answers) == 1 and len(receiver.requests) == 2  # posted before the removal was seen
    assert rows(engine, WebhookAttempt) == 0 and rows(engine, WebhookLog) == 0


def test_erasing_a_reader_forgets_the_outbox_events_that_name_them(engine, settings, receiver):
    seed(engine, NOW, subscribers=2)
    endpoint(settings, engine, receiver, "subscriber.unsubscribed")
    with store.read_session(engine) as session:
        ids = [store.subscribers.find_subscriber(session, email=f"reader{i}@example.com").id for i in (1, 2)]
    for subscriber_id in ids:
        suppress_reader(engine, subscriber_id, now=NOW)
    assert deliver(engine, settings).delivered == 2 and rows(engine, WebhookEvent) == 2
    from digest.operations.subscribers import erase_subscriber
    erase_subscriber(settings, "reader1@example.com", now=NOW, engine=engine)
    with store.read_session(engine) as session:
        left = [e.payload["data"]["email"] for e in session.exec(select(WebhookEvent))]
    assert left == ["reader2@example.com"] and rows(engine, WebhookAttempt) == 1 and rows(engine, WebhookLog) == 1


def test_delivered_events_are_pruned_after_keep_days_and_pending_ones_stay(engine, settings, receiver):
    endpoint(settings, engine, receiver, "edition.done")
    with store.session_scope(engine) as session:
        store.webhooks.emit_many(session, type="edition.done", items=[{"n": 1}, {"n": 2}], now=NOW)
    receiver.statuses = [500]  # the first posted stays pending
    assert deliver(engine, settings, NOW).delivered == 1
    keep = timedelta(days=settings.webhooks.keep_days)
    deliver(engine, settings, NOW + keep - timedelta(minutes=1))  # not yet: the pending one is delivered now
    assert rows(engine, WebhookEvent) == 2 and rows(engine, WebhookLog) == 3
    deliver(engine, settings, NOW + keep + timedelta(minutes=1))  # the first delivery is past keep_days
    with store.read_session(engine) as session:
        [attempt] = session.exec(select(WebhookAttempt)).all()
    assert attempt.delivered_at == NOW + keep - timedelta(minutes=1)
    assert rows(engine, WebhookEvent) == 1 and rows(engine, WebhookLog) == 2


def test_a_slow_a_redirecting_and_an_unreachable_endpoint_are_failures_retried(engine, settings, receiver):
    settings = replace(settings, webhooks=replace(settings.webhooks, timeout_seconds=0.3))
    endpoint(settings, engine, receiver, "edition.done")
    ops.add_endpoint(settings, "http://127.0.0.1:9/nobody-listens", events="edition.done", now=NOW, engine=engine)
    with store.session_scope(engine) as session:
        store.webhooks.emit(session, type="edition.done", data={}, now=NOW)
    receiver.delay = 1.0
    first = deliver(engine, settings)
    receiver.delay, receiver.statuses = 0.0, [302]
    errors = sorted(a.error.split(":")[0] for _, a in first.answers)
    assert first.delivered == 0 and first.retrying == 2 and errors == ["ConnectError", "ReadTimeout"], errors
    later = deliver(engine, settings, real_now() + timedelta(minutes=1))
    assert sorted(a.status_code or 0 for _, a in later.answers) == [0, 302] and later.delivered == 0
    assert sorted(e.counts.get("pending", 0) for e in ops.list_endpoints(settings, engine=engine)) == [1, 1]


@pytest.mark.sqlite_only("builds the procrastinate app without connecting; the pass runs on the test's store")
def test_the_workers_periodic_task_makes_a_pass(engine, settings, receiver):
    from types import SimpleNamespace

    from digest.workers.app import Runtime, build_app

    endpoint(settings, engine, receiver, "edition.done")
    with store.session_scope(engine) as session:
        store.webhooks.emit(session, type="edition.done", data={"edition": "e"}, now=NOW)
    queue = build_app(replace(settings, store=replace(settings.store, url="postgresql+psycopg://u@localhost/db")))
    task = queue.tasks["digest.webhooks"]
    context = SimpleNamespace(additional_context={"runtime": Runtime(engine, settings, RecordingMailer(), real_now,
                                                                     threading.Event())})
    assert asyncio.run(task.func(context, timestamp=0)) == 1
    assert receiver.events()[0]["data"] == {"edition": "e"} and receiver.requests[0]["verified"]["type"] == "edition.done"


def test_leave_all_on_the_preference_page_gives_one_subscriber_unsubscribed(engine, settings, receiver):
    from digest.operations.reader import leave_everything

    seed(engine, NOW, subscribers=1)
    endpoint(settings, engine, receiver, "subscriber.unsubscribed")
    with store.read_session(engine) as session:
        subscriber_id = store.subscribers.find_subscriber(session, email="reader1@example.com").id
    for _ in range(2):  # the second time nothing changes: no second event
        leave_everything(engine, settings, subscriber_id, now=NOW)
    deliver(engine, settings)
    [event] = receiver.events()
    assert (event["data"]["email"], event["data"]["newsletter"], event["data"]["source"]) == \
        ("reader1@example.com", None, "reader: leave all")
