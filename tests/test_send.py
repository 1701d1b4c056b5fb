"""Sending: classify(), backoff, the token bucket, and the pooled SMTP mailer against a real aiosmtpd server.

Faults are injected through the server's handler hooks (tests/smtpd.py), never by mocking aiosmtplib.
"""

from __future__ import annotations

import asyncio
import math
import random
import socket
from dataclasses import replace
from types import SimpleNamespace
from datetime import timedelta

import pytest
from sqlmodel import select

from digest import store
from digest.errors import SendAborted
from digest.models import Delivery, DeliveryStatus, Subscriber
from digest.pipeline import run_day
from digest.send import OutgoingMessage, SendResult, SmtpMailer, TokenBucket, classify, next_attempt_at
from tests.conftest import NOW
from tests.factories import seed

EHLO_NAME = "mailer.digest-test.example"
S = DeliveryStatus


# --- classify() -----------------------------------------------------------------------------------------------

CASES = [
    # id, SendResult, status, throttle, stop, sender_side
    ("250-done", SendResult(250, "2.0.0 OK queued", "done"), S.sent, False, False, False),
    ("421-rcpt", SendResult(421, "4.3.2 service shutting down", "rcpt"), S.deferred, True, False, False),
    ("421-mail-no-enhanced", SendResult(421, "too many connections", "mail"), S.deferred, True, False, False),
    ("450-rcpt", SendResult(450, "4.2.1 mailbox busy", "rcpt"), S.deferred, False, False, False),
    ("451-rcpt", SendResult(451, "4.3.0 try later", "rcpt"), S.deferred, False, False, False),
    ("452-data", SendResult(452, "4.3.1 insufficient storage", "data"), S.deferred, False, False, False),
    ("450-4.7.0-rate", SendResult(450, "4.7.0 rate limited, slow down", "rcpt"), S.deferred, True, False, False),
    ("451-4.7.1-greylist", SendResult(451, "4.7.1 greylisted", "data"), S.deferred, True, False, False),
    ("550-5.1.1", SendResult(550, "5.1.1 no such user", "rcpt"), S.bounced, False, False, False),
    ("550-no-enhanced-rcpt", SendResult(550, "mailbox unavailable", "rcpt"), S.bounced, False, False, False),
    ("554-5.7.1-data", SendResult(554, "5.7.1 message rejected by policy", "data"), S.failed, False, False, True),
    ("550-5.7.1-rcpt", SendResult(550, "5.7.1 relay access denied", "rcpt"), S.failed, False, False, True),
    ("552-5.3.4", SendResult(552, "5.3.4 message too big", "data"), S.failed, False, False, False),
    ("timeout-data", SendResult(None, "timed out", "data", "timeout"), S.unknown, False, False, False),
    ("disconnect-data", SendResult(None, "connection lost", "data", "disconnected"), S.unknown, False, False, False),
    ("timeout-connect", SendResult(None, "timed out", "connect", "timeout"), S.deferred, False, False, False),
    ("refused-connect", SendResult(None, "connection refused", "connect", "refused"), S.deferred, False, False, False),
    ("disconnect-mail", SendResult(None, "connection lost", "mail", "disconnected"), S.deferred, False, False, False),
    ("disconnect-rcpt", SendResult(None, "connection lost", "rcpt", "disconnected"), S.deferred, False, False, False),
]


@pytest.mark.parametrize("result, status, throttle, stop, sender_side",
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_classify(result, status, throttle, stop, sender_side):
    verdict = classify(result)
    assert verdict.status == status
    assert (verdict.throttle, verdict.stop, verdict.sender_side) == (throttle, stop, sender_side)
    assert verdict.reason
    if result.code is not None:
        assert str(result.code) in verdict.reason


@pytest.mark.parametrize("result", [SendResult(535, "5.7.8 authentication credentials invalid", "auth"),
                                    SendResult(535, "authentication failed", "connect")], ids=["auth", "connect"])
def test_classify_535_stops_without_blaming_the_subscriber(result):
    verdict = classify(result)
    assert verdict.stop is True
    assert verdict.status not in (S.bounced, S.sent, S.unknown)
    assert "535" in verdict.reason


def test_classify_5_7_is_never_a_bounce():
    for code in (550, 553, 554):
        verdict = classify(SendResult(code, "5.7.26 unauthenticated mail is prohibited", "rcpt"))
        assert verdict.status != S.bounced and verdict.sender_side


# --- next_attempt_at ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("attempts, expected", [(0, 300), (1, 300), (2, 600), (3, 1200), (4, 2400), (5, 3600),
                                                (12, 3600)])
def test_next_attempt_at_is_exponential_capped_with_jitter(attempts, expected):
    rng = random.Random(attempts)
    ratios = []
    for _ in range(200):
        delay = (next_attempt_at(NOW, attempts, base=300, cap=3600, rng=rng) - NOW).total_seconds()
        ratios.append(delay / expected)
    assert all(1 <= r < 1.25 for r in ratios), (min(ratios), max(ratios))
    assert max(ratios) - min(ratios) > 0.1  # there is jitter at all


def test_next_attempt_at_is_reproducible_with_a_seed():
    a = [next_attempt_at(NOW, n, base=60, cap=600, rng=random.Random(7)) for n in range(1, 6)]
    b = [next_attempt_at(NOW, n, base=60, cap=600, rng=random.Random(7)) for n in range(1, 6)]
    assert a == b and all(t > NOW for t in a)


# --- TokenBucket -------------------------------------------------------------------------------------------------

class FakeTime:
    """A clock whose `sleep` advances it instead of waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time():
    return FakeTime()


async def test_bucket_spaces_takes_at_the_rate(fake_time):
    bucket = TokenBucket(10, clock=fake_time, sleep=fake_time.sleep)
    start = fake_time()
    for _ in range(11):
        await bucket.take()
    assert fake_time() - start == pytest.approx(1.0)  # the first is free, then 10 more at 10/s
    assert len(fake_time.sleeps) == 10 and all(s == pytest.approx(0.1) for s in fake_time.sleeps)


async def test_bucket_refills_with_time_but_bursts_at_most_one_second_worth(fake_time):
    bucket = TokenBucket(10, clock=fake_time, sleep=fake_time.sleep)
    await bucket.take()
    fake_time.now += 60  # idle for a minute: at most `rate` tokens saved up
    for _ in range(10):
        await bucket.take()
    assert fake_time.sleeps == []
    await bucket.take()
    assert fake_time.sleeps == [pytest.approx(0.1)]


async def test_bucket_throttle_halves_the_rate(fake_time):
    bucket = TokenBucket(10, clock=fake_time, sleep=fake_time.sleep)
    bucket.throttle()
    assert bucket.rate == 5 and bucket.target == 10
    await bucket.take()
    start = fake_time()
    for _ in range(5):
        await bucket.take()
    assert fake_time() - start == pytest.approx(1.0)  # 5 per second now
    for _ in range(10):
        bucket.throttle()
    assert bucket.rate == 1.0  # never below the floor


def test_bucket_recover_climbs_back_to_target_never_above():
    bucket = TokenBucket(10)
    bucket.throttle()
    bucket.throttle()
    assert bucket.rate == 2.5
    seen = []
    for _ in range(200):
        bucket.recover()
        seen.append(bucket.rate)
    assert seen == sorted(seen) and seen[0] > 2.5
    assert max(seen) == 10 and bucket.rate == 10
    bucket.recover()
    assert bucket.rate == 10


async def test_bucket_rate_zero_never_waits(fake_time):
    bucket = TokenBucket(0, clock=fake_time, sleep=fake_time.sleep)
    for _ in range(1000):
        await bucket.take()
    assert fake_time.sleeps == [] and fake_time() == 1000.0


# --- SmtpMailer against the real server ------------------------------------------------------------------------

def message(i: int, rcpt: str) -> OutgoingMessage:
    body = (f"From: Digest <digest@news.example.com>\r\nTo: <{rcpt}>\r\nSubject: Edition {i}\r\n"
            f"Message-ID: <m{i}@news.example.com>\r\n\r\nHello {i}.\r\n.a line that starts with a dot\r\n"
            f"..two dots\r\n{'x' * 900}\r\nbye\r\n")
    return OutgoingMessage("bounces+t@news.example.com", rcpt, f"<m{i}@news.example.com>", body.encode())


def normal(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").rstrip(b"\n")


def mailer_for(settings, **smtp) -> SmtpMailer:
    return SmtpMailer(replace(settings.smtp, **smtp), local_hostname=EHLO_NAME)


async def send_all(mailer: SmtpMailer, messages, *, concurrent: bool = True) -> list[SendResult]:
    try:
        if concurrent:
            return list(await asyncio.gather(*(mailer.send(m) for m in messages)))
        return [await mailer.send(m) for m in messages]
    finally:
        await mailer.close()


async def test_pool_opens_at_most_n_connections_and_delivers_bytes_intact(smtp_settings, smtpd):
    mailer = mailer_for(smtp_settings, connections=2)
    sent = [message(i, f"user{i}@example.org") for i in range(20)]
    results = await send_all(mailer, sent)
    assert [r.phase for r in results] == ["done"] * 20 and {r.code for r in results} == {250}
    assert mailer.opened <= 2 and len(smtpd.handler.peers) <= 2
    assert len(smtpd.handler.messages) == 20
    got = {m.rcpt_tos[0]: m for m in smtpd.handler.messages}
    for m in sent:
        assert [r.rcpt_tos for r in smtpd.handler.to(m.recipient)] == [[m.recipient]]
        assert normal(got[m.recipient].data) == normal(m.data)
        assert got[m.recipient].mail_from == m.envelope_from


async def test_connection_recycled_after_max_per_connection(smtp_settings, smtpd):
    mailer = mailer_for(smtp_settings, connections=1, max_per_connection=3)
    results = await send_all(mailer, [message(i, f"u{i}@example.org") for i in range(7)], concurrent=False)
    assert all(r.phase == "done" for r in results)
    assert mailer.opened == math.ceil(7 / 3)
    assert len(smtpd.handler.peers) == 3 and len(smtpd.handler.messages) == 7


async def test_ehlo_uses_the_given_local_hostname(smtp_settings, smtpd):
    assert smtp_settings.smtp.local_hostname == ""
    await send_all(mailer_for(smtp_settings), [message(1, "a@example.org"), message(2, "b@example.org")])
    assert smtpd.handler.ehlo_names and set(smtpd.handler.ehlo_names) == {EHLO_NAME}
    assert {m.ehlo for m in smtpd.handler.messages} == {EHLO_NAME}


FAULTS = {
    # id: (how to set the fault, expected code, phase, error, status, sender_side, connection survives)
    "rcpt-451": (lambda h, r: h.rcpt_replies.__setitem__(r, "451 4.3.0 try later"),
                 451, "rcpt", None, S.deferred, False, True),
    "rcpt-550-5.1.1": (lambda h, r: h.rcpt_replies.__setitem__(r, "550 5.1.1 no such user"),
                       550, "rcpt", None, S.bounced, False, True),
    "data-554-5.7.1": (lambda h, r: h.data_replies.__setitem__(r, "554 5.7.1 policy"),
                       554, "data", None, S.failed, True, True),
    "data-disconnect": (lambda h, r: h.disconnect_in_data.add(r),
                        None, "data", "disconnected", S.unknown, False, False),
    "data-timeout": (lambda h, r: h.data_delay.__setitem__(r, 2.0),
                     None, "data", "timeout", S.unknown, False, False),
}


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_a_per_recipient_fault_does_not_break_the_next_message(fault, smtp_settings, smtpd):
    setup, code, phase, error, status, sender_side, survives = FAULTS[fault]
    bad = "bad@example.org"
    setup(smtpd.handler, bad)
    mailer = mailer_for(smtp_settings, connections=1, data_timeout=0.5)
    before, faulty, after = await send_all(
        mailer, [message(1, "before@example.org"), message(2, bad), message(3, "after@example.org")],
        concurrent=False)
    assert (faulty.code, faulty.phase, faulty.error) == (code, phase, error)
    verdict = classify(faulty)
    assert verdict.status == status and verdict.sender_side == sender_side
    assert verdict.status != S.bounced or fault == "rcpt-550-5.1.1"
    assert before.phase == after.phase == "done" and before.code == after.code == 250
    assert len(smtpd.handler.to("before@example.org")) == 1 and len(smtpd.handler.to("after@example.org")) == 1
    if fault != "data-timeout":  # a slow relay may still accept it later: that is why it is `unknown`
        assert smtpd.handler.to(bad) == []
    assert mailer.opened == (1 if survives else 2)  # a reply-level refusal keeps the connection (RSET)


async def test_faults_on_concurrent_connections_stay_with_their_recipient(smtp_settings, smtpd):
    h = smtpd.handler
    h.rcpt_replies["r451@example.org"] = "451 4.3.0 try later"
    h.rcpt_replies["r550@example.org"] = "550 5.1.1 no such user"
    h.data_replies["d554@example.org"] = "554 5.7.1 policy"
    h.disconnect_in_data.add("drop@example.org")
    rcpts = ["ok1@example.org", "r451@example.org", "ok2@example.org", "r550@example.org", "ok3@example.org",
             "d554@example.org", "ok4@example.org", "drop@example.org", "ok5@example.org", "ok6@example.org"]
    mailer = mailer_for(smtp_settings, connections=2)
    results = dict(zip(rcpts, await send_all(mailer, [message(i, r) for i, r in enumerate(rcpts)])))
    status = {r: classify(res).status for r, res in results.items()}
    assert status == {**{f"ok{i}@example.org": S.sent for i in range(1, 7)}, "r451@example.org": S.deferred,
                      "r550@example.org": S.bounced, "d554@example.org": S.failed, "drop@example.org": S.unknown}
    assert (results["r451@example.org"].code, results["r451@example.org"].phase) == (451, "rcpt")
    assert sorted(r for m in h.messages for r in m.rcpt_tos) == [f"ok{i}@example.org" for i in range(1, 7)]
    assert mailer.opened <= 3  # the two connections, plus one to replace the dropped one


async def test_connection_refused_is_deferred_in_connect(smtp_settings):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    mailer = mailer_for(smtp_settings, port=port)
    [result] = await send_all(mailer, [message(1, "a@example.org")])
    assert (result.phase, result.error, result.code) == ("connect", "refused", None)
    assert classify(result).status == S.deferred and not classify(result).stop
    assert mailer.opened == 0


# --- the pipeline records each outcome ---------------------------------------------------------------------------

def run(engine, settings, clock):
    async def go():
        mailer = SmtpMailer(settings.smtp, local_hostname=EHLO_NAME)
        try:
            return await run_day(engine, settings, mailer, NOW.date(), clock=lambda: clock)
        finally:
            await mailer.close()
    return asyncio.run(go())


def rows(engine) -> dict[str, SimpleNamespace]:
    with store.read_session(engine) as session:
        found = session.exec(select(Subscriber.email, Delivery).join(Delivery, Delivery.subscriber_id == Subscriber.id))
        return {email: SimpleNamespace(**d.model_dump()) for email, d in found}  # usable after the session


def counts(engine) -> dict[str, int]:
    with store.read_session(engine) as session:
        return store.delivery_status.edition_counts(session, edition_id=1)


@pytest.mark.store
def test_run_day_records_each_outcome_and_retries_only_what_is_due(engine, smtp_settings, smtpd):
    h = smtpd.handler
    h.rcpt_replies["reader2@example.com"] = "550 5.1.1 unknown user"
    h.rcpt_replies["reader3@example.com"] = "451 4.3.0 try later"
    h.disconnect_in_data.add("reader4@example.com")
    seed(engine, NOW, subscribers=5)

    run(engine, smtp_settings, NOW)
    assert counts(engine) == {"sent": 2, "bounced": 1, "deferred": 1, "unknown": 1}
    by = rows(engine)
    assert {e for e, d in by.items() if d.status == S.sent} == {"reader1@example.com", "reader5@example.com"}
    bounced, deferred, unknown = by["reader2@example.com"], by["reader3@example.com"], by["reader4@example.com"]
    assert bounced.status == S.bounced and bounced.smtp_code == 550 and "5.1.1" in bounced.error
    assert bounced.next_attempt_at is None
    assert deferred.status == S.deferred and deferred.smtp_code == 451 and "4.3.0" in deferred.error
    assert deferred.attempts == 1 and deferred.next_attempt_at > NOW
    assert deferred.next_attempt_at <= NOW + timedelta(seconds=smtp_settings.send.retry_base_seconds * 1.25)
    assert unknown.status == S.unknown and unknown.smtp_code is None and unknown.error
    assert all(by[e].smtp_reply for e in ("reader1@example.com", "reader2@example.com", "reader3@example.com"))
    assert len(h.messages) == 2

    run(engine, smtp_settings, NOW)  # same clock: the deferred one is not due, the unknown one is never resent
    assert counts(engine) == {"sent": 2, "bounced": 1, "deferred": 1, "unknown": 1}
    assert len(h.messages) == 2 and rows(engine)["reader3@example.com"].attempts == 1

    del h.rcpt_replies["reader3@example.com"]
    run(engine, smtp_settings, NOW + timedelta(hours=2))
    assert counts(engine) == {"sent": 3, "bounced": 1, "unknown": 1}
    by = rows(engine)
    assert by["reader3@example.com"].status == S.sent and by["reader3@example.com"].attempts == 2
    assert by["reader3@example.com"].error is None and by["reader3@example.com"].next_attempt_at is None
    assert by["reader4@example.com"].status == S.unknown and by["reader4@example.com"].attempts == 1
    assert len(h.to("reader3@example.com")) == 1 and h.to("reader4@example.com") == []
    assert len(h.messages) == 3


@pytest.mark.store
def test_policy_rejections_stop_the_edition_and_leave_the_rest_queued(engine, smtp_settings, smtpd):
    settings = replace(smtp_settings, send=replace(smtp_settings.send, batch_size=1))
    for i in range(1, 7):
        smtpd.handler.data_replies[f"reader{i}@example.com"] = "554 5.7.1 rejected: SPF fail"
    seed(engine, NOW, subscribers=6)
    with pytest.raises(SendAborted, match="3 policy rejections"):
        run(engine, settings, NOW)
    assert counts(engine) == {"failed": 3, "queued": 3}
    by = rows(engine)
    assert all(by[f"reader{i}@example.com"].smtp_code == 554 for i in range(1, 4))
    assert all(by[f"reader{i}@example.com"].status == S.queued and by[f"reader{i}@example.com"].attempts == 0
               for i in range(4, 7))
    assert smtpd.handler.messages == []
