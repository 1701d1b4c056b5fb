"""Relay faults injected by Postfix's smtp-sink, plain sockets and aiosmtpd, end to end through run_day.

A dead relay (refused, silent, 421 on connect) stops the run with one line and leaves every row as it was; a relay
that answers nearly every message with one same failure trips the circuit breaker, which pauses the edition and
blames nobody; `retry_deferred` retries every deferred row once.
"""

from __future__ import annotations

import re
import ssl
import subprocess
import time
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlmodel import select

from tests.sink import SMTP_SINK, SmtpSink
from digest import store
from digest.errors import SendAborted
from digest.models import Delivery, Subscriber
from tests.conftest import NOW
from tests.factories import edition_counts, seed, send_day
from tests.relays import TcpRelay, closed_port
from tests.smtpd import FaultHandler, ThreadedSMTPServer

pytestmark = [pytest.mark.store,
              pytest.mark.skipif(SMTP_SINK is None, reason="smtp-sink not installed (Debian package postfix)")]


def relay(settings, port, **smtp):
    smtp = {"connections": 2, "connect_backoff_seconds": 0.1, **smtp}
    return replace(settings, smtp=replace(settings.smtp, port=port, **smtp))


def with_send(settings, **send):
    return replace(settings, send=replace(settings.send, **send))


send = send_day
counts = edition_counts


def rows(engine) -> dict[str, tuple[str, int]]:
    """email → (delivery status, attempts)."""
    with store.read_session(engine) as session:
        found = session.exec(select(Subscriber.email, Delivery.status, Delivery.attempts)
                             .join(Delivery, Delivery.subscriber_id == Subscriber.id))
        return {email: (str(status), attempts) for email, status, attempts in found}


def readers(engine) -> dict[str, int]:
    """Subscriber status → how many."""
    with store.read_session(engine) as session:
        found = [str(s) for s in session.exec(select(Subscriber.status))]
    return {s: found.count(s) for s in set(found)}


def untouched(engine, n: int) -> None:
    """Every row still queued, no attempt counted."""
    assert counts(engine) == {"queued": n}
    assert {attempts for _, attempts in rows(engine).values()} == {0}


def aborted(engine, settings, **kw) -> tuple[str, float]:
    """Send, expect the run to stop: (its one line, seconds it took)."""
    started = time.monotonic()
    with pytest.raises(SendAborted) as stopped:
        send(engine, settings, **kw)
    message = str(stopped.value)
    assert "\n" not in message
    return message, time.monotonic() - started


# ── a dead relay is reported, not waited on ───────────────────────────────────────────────────────────────────

def test_connection_refused_stops_at_once_and_leaves_every_row_queued(engine, settings):
    seed(engine, NOW, subscribers=200)
    port = closed_port()
    message, took = aborted(engine, relay(settings, port))
    assert message.startswith(f"relay 127.0.0.1:{port}: connection refused"), message
    assert took < 5, took
    untouched(engine, 200)
    with SmtpSink(dump=True, port=port) as sink:  # the relay is back: everything goes, once
        [report] = send(engine, relay(settings, port))
        received = sink.received()
    assert counts(engine) == {"sent": 200} and report.clean
    assert len(received) == 200 and set(received.values()) == {1}


def test_a_relay_that_never_greets_costs_a_few_timeouts_not_one_per_message(engine, settings):
    seed(engine, NOW, subscribers=100)
    with TcpRelay() as silent:  # accepts TCP, never says 220
        message, took = aborted(engine, relay(settings, silent.port, timeout=1.0))
    assert message.startswith(f"relay 127.0.0.1:{silent.port}: no answer within 1 s"), message
    assert took < 10, took  # it was 50 s: every message waited for its own timeout (100 over 2 connections)
    assert silent.accepted <= 3 + 1  # connect_failures, plus the second connection of the first wave
    untouched(engine, 100)


def test_421_greeting_backs_the_whole_pool_off_instead_of_retrying_each_message(engine, settings):
    seed(engine, NOW, subscribers=50)
    with TcpRelay(b"421 4.3.2 Service not available, closing channel") as busy:
        message, took = aborted(engine, relay(settings, busy.port, connect_backoff_seconds=0.3))
    assert message.startswith(f"relay 127.0.0.1:{busy.port}: 421 4.3.2 Service not available"), message
    assert busy.accepted <= 4, busy.accepted  # was 50: one connection, and one 421, per message
    assert took >= 0.3 + 0.6  # the pool waited, doubling, between its tries
    untouched(engine, 50)


def test_421_on_connect_from_smtp_sink_stops_then_completes_when_the_relay_recovers(engine, settings):
    seed(engine, NOW, subscribers=4)
    with SmtpSink(["-Q", "CONNECT"]) as sink:
        port = sink.port
        message, _ = aborted(engine, relay(settings, port))
    assert message.startswith(f"relay 127.0.0.1:{port}: 421"), message
    untouched(engine, 4)
    with SmtpSink(dump=True, port=port) as sink:
        send(engine, relay(settings, port), clock=lambda: NOW + timedelta(hours=1))
        received = sink.received()
    assert counts(engine) == {"sent": 4}
    assert sorted(received.values()) == [1, 1, 1, 1]


# ── the circuit breaker: a relay refusing everyone does not burn the list ──────────────────────────────────────

STORMS = {
    "550 5.1.1 on every RCPT": (["-f", "RCPT", "-B", "550 5.1.1 <x>: Recipient address rejected: User unknown"],
                                "bounced", "550 5.1.1 <x>: Recipient address rejected"),
    "500 5.3.0 on every RCPT": (["-f", "RCPT"], "failed", "500 5.3.0"),
    "450 4.3.0 on every RCPT": (["-r", "RCPT"], "deferred", "450 4.3.0"),
    "550 on every final dot": (["-f", "."], "failed", "500 5.3.0"),
}


@pytest.mark.parametrize("storm", list(STORMS))
def test_a_relay_refusing_everyone_trips_the_breaker_and_blames_nobody(engine, settings, storm):
    options, kind, reply = STORMS[storm]
    seed(engine, NOW, subscribers=300)
    with SmtpSink(options) as sink:
        message, _ = aborted(engine, relay(settings, sink.port))
    assert message.startswith(f"relay 127.0.0.1:{sink.port}: "), message
    assert f" messages {kind}: " in message and reply in message and "circuit breaker" in message, message
    assert counts(engine) == {"queued": 300}  # the storm's rows requeued, the rest never tried
    assert readers(engine) == {"active": 300}  # nobody suppressed
    tried = [e for e, (_, attempts) in rows(engine).items() if attempts]
    assert 30 <= len(tried) <= 30 + 2  # breaker_min_outcomes, plus what was on the wire when it tripped


@pytest.mark.parametrize("drop", [".", "DATA"])  # hangs up after the final dot, or on DATA: maybe delivered
def test_a_relay_dropping_every_message_after_the_data_leaves_only_the_window_unknown(engine, settings, drop):
    seed(engine, NOW, subscribers=300)
    with SmtpSink(["-q", drop]) as sink:  # an unknown outcome is never resent by itself
        message, _ = aborted(engine, relay(settings, sink.port))
    assert "circuit breaker" in message and " messages unknown: " in message and "requeue" in message, message
    c = counts(engine)
    assert set(c) == {"unknown", "queued"} and 30 <= c["unknown"] <= 32 and c["queued"] == 300 - c["unknown"], c
    assert readers(engine) == {"active": 300}


def test_421_on_every_rcpt_trips_the_breaker_after_the_pool_has_slowed_down(engine, settings):
    seed(engine, NOW, subscribers=40)
    s = with_send(relay(settings, 0), breaker_window=10, breaker_min_outcomes=5)
    with SmtpSink(["-Q", "RCPT"]) as sink:
        message, _ = aborted(engine, replace(s, smtp=replace(s.smtp, port=sink.port)))
    assert "421" in message and "circuit breaker" in message, message
    assert counts(engine) == {"queued": 40} and readers(engine) == {"active": 40}


def test_a_relay_timing_out_on_every_rcpt_trips_the_breaker(engine, settings):
    seed(engine, NOW, subscribers=40)
    s = with_send(relay(settings, 0, timeout=0.5), breaker_window=10, breaker_min_outcomes=6)
    with SmtpSink(["-W", "RCPT:5"]) as sink:
        message, took = aborted(engine, replace(s, smtp=replace(s.smtp, port=sink.port)))
    assert "messages deferred: " in message and "circuit breaker" in message, message
    assert counts(engine) == {"queued": 40} and took < 15


def test_the_breaker_forgives_the_rows_of_earlier_batches_and_reactivates_their_readers(engine, settings):
    """The storm's first batches were recorded bounced and their readers suppressed before the breaker had seen
    enough: when it trips, they are requeued and reactivated too."""
    seed(engine, NOW, subscribers=60)
    handler = FaultHandler(rcpt_replies={f"reader{i}@example.com": "550 5.1.1 <x>: no such user"
                                         for i in range(1, 61)})
    with ThreadedSMTPServer(handler) as server:
        s = with_send(relay(settings, server.port), batch_size=10, breaker_window=40, breaker_min_outcomes=25)
        message, _ = aborted(engine, s)
    assert "circuit breaker" in message and "nobody was suppressed" in message, message
    assert counts(engine) == {"queued": 60}
    assert readers(engine) == {"active": 60}
    assert handler.messages == []


def test_a_relay_refusing_every_rcpt_with_changing_codes_trips_the_breaker(engine, settings):
    """550, 551, 553 and 554 in turn on every RCPT: one relay fault (5xx at RCPT), not 300 bad mailboxes."""
    seed(engine, NOW, subscribers=300)
    codes = ["550 5.1.1 <x>: no such user", "551 5.1.6 <x>: moved", "553 5.1.3 <x>: bad address",
             "554 5.1.0 <x>: rejected"]
    handler = FaultHandler(rcpt_replies={f"reader{i}@example.com": codes[i % 4] for i in range(1, 301)})
    with ThreadedSMTPServer(handler) as server:
        message, _ = aborted(engine, relay(settings, server.port))
    assert "circuit breaker" in message and " messages bounced: " in message, message
    assert counts(engine) == {"queued": 300} and readers(engine) == {"active": 300}
    assert len([e for e, (_, attempts) in rows(engine).items() if attempts]) <= 32


def test_ordinary_bad_mailboxes_do_not_trip_the_breaker(engine, settings):
    seed(engine, NOW, subscribers=90)
    bad = {f"reader{i}@example.com" for i in range(1, 91, 3)}  # one reader in three: a stale list, not a storm
    handler = FaultHandler(rcpt_replies={r: "550 5.1.1 <x>: no such user" for r in bad})
    with ThreadedSMTPServer(handler) as server:
        [report] = send(engine, relay(settings, server.port))
    assert report.stopped is None
    assert counts(engine) == {"sent": 60, "bounced": 30}
    assert readers(engine) == {"active": 60, "bounced": 30}
    assert {e for e, (status, _) in rows(engine).items() if status == "bounced"} == bad


# ── retries finish ──────────────────────────────────────────────────────────────────────────────────────────

def test_retry_deferred_retries_every_deferred_row_once_in_one_run(engine, settings):
    seed(engine, NOW, subscribers=250)
    s = with_send(settings, breaker_window=0)  # the first run defers everyone: no breaker for this one
    with SmtpSink(["-r", "RCPT"]) as sink:
        send(engine, relay(s, sink.port))
    assert counts(engine) == {"deferred": 250}
    handler = FaultHandler(rcpt_replies={"reader7@example.com": "451 4.3.0 still not"})
    with ThreadedSMTPServer(handler) as server:  # the operator fixed the relay: retry now, not after the backoff
        send(engine, relay(settings, server.port), retry_deferred=True)
    assert counts(engine) == {"sent": 249, "deferred": 1}
    assert len(handler.messages) == 249 and len({m.rcpt_tos[0] for m in handler.messages}) == 249
    by = rows(engine)
    assert by["reader7@example.com"] == ("deferred", 2)  # deferred again: not retried again in the same run
    assert {attempts for email, (_, attempts) in by.items()} == {2}


# ── the faults the suite always covered ─────────────────────────────────────────────────────────────────────

@pytest.mark.parametrize("options, expected", [
    (["-r", "RCPT"], "deferred"),  # 450 4.3.0 on every RCPT
    (["-f", "RCPT", "-B", "550 5.1.1 <x>: Recipient address rejected: User unknown"], "bounced"),
    (["-q", "DATA"], "unknown"),  # the connection drops in the DATA phase: maybe delivered, never resent
])
def test_faults_map_to_statuses(engine, settings, options, expected):
    seed(engine, NOW, subscribers=2)
    with SmtpSink(options) as sink:
        send(engine, relay(settings, sink.port))
    assert counts(engine) == {expected: 2}


def test_data_reply_slower_than_the_timeout_is_unknown(engine, settings):
    seed(engine, NOW, subscribers=1)
    with SmtpSink(["-w", "3"], dump=True) as sink:
        send(engine, relay(settings, sink.port, data_timeout=1.0))
    assert counts(engine) == {"unknown": 1}
    with SmtpSink(dump=True) as sink:  # a later run never resends an unknown outcome by itself
        send(engine, relay(settings, sink.port), clock=lambda: NOW + timedelta(hours=2))
        assert sink.received() == {}


def test_policy_rejections_stop_the_edition(engine, settings):
    seed(engine, NOW, subscribers=8)
    s = with_send(relay(settings, 0), batch_size=2)
    with SmtpSink(["-f", ".", "-B", "554 5.7.1 Message rejected by policy"]) as sink:
        with pytest.raises(SendAborted, match="policy rejections"):
            send(engine, replace(s, smtp=replace(s.smtp, port=sink.port)))
    c = counts(engine)
    assert c.get("failed") in (3, 4) and c.get("queued", 0) >= 4 and "bounced" not in c


@pytest.fixture
def tls_context(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=localhost"], check=True, capture_output=True)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def test_auth_failure_stops_without_burning_the_list(engine, settings, tls_context):
    from aiosmtpd.smtp import AuthResult

    seed(engine, NOW, subscribers=5)

    def authenticator(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=False, handled=False)

    server = ThreadedSMTPServer(FaultHandler())
    server.smtp_kwargs = {"tls_context": tls_context, "require_starttls": True, "authenticator": authenticator}
    with server:
        s = relay(settings, server.port, tls="starttls", username="digest", validate_certs=False)
        s = replace(s, smtp=replace(s.smtp, password="wrong"))
        with pytest.raises(SendAborted, match=re.escape(f"relay 127.0.0.1:{server.port}: stopped: authentication failed")):
            send(engine, s)
        assert server.handler.messages == []
    untouched(engine, 5)  # nobody is blamed, no attempt counted; they go out once the password is fixed


def test_a_worker_shard_has_the_same_breaker_and_leaves_its_range_queued(engine, settings):
    """`digest worker` sends shards through `send_shard`, the same EditionSender: a storm stops the shard."""
    import asyncio

    from digest.pipeline import plan_day, send_shard
    from digest.send import SmtpMailer

    seed(engine, NOW, subscribers=120)
    [(_, edition_id, planned)] = plan_day(engine, settings, NOW.date(), clock=lambda: NOW)
    assert planned == 120
    with SmtpSink(STORMS["550 5.1.1 on every RCPT"][0]) as sink:
        s = relay(settings, sink.port)

        async def shard():
            mailer = SmtpMailer(s.smtp, local_hostname="news.example.com")
            try:
                return await send_shard(engine, s, mailer, edition_id, (1, 10_000), claimed_by="job:7",
                                        clock=lambda: NOW)
            finally:
                await mailer.close()
        with pytest.raises(SendAborted, match="circuit breaker"):
            asyncio.run(shard())
    assert counts(engine) == {"queued": 120} and readers(engine) == {"active": 120}
