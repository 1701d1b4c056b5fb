"""Relay faults injected by Postfix's smtp-sink (and aiosmtpd for AUTH), end to end through run_day."""

from __future__ import annotations

import ssl
import subprocess
from dataclasses import replace
from datetime import timedelta

import pytest

from benchmarks.sink import SMTP_SINK, SmtpSink
from digest.errors import SendAborted
from tests.conftest import NOW
from tests.factories import edition_counts, seed, send_day

pytestmark = [pytest.mark.store,
              pytest.mark.skipif(SMTP_SINK is None, reason="smtp-sink not installed (Debian package postfix)")]


def relay(settings, port, **smtp):
    return replace(settings, smtp=replace(settings.smtp, port=port, connections=2, **smtp))


send = send_day
counts = edition_counts


def test_421_on_connect_defers_then_completes_when_the_relay_recovers(engine, settings):
    seed(engine, NOW, subscribers=4)
    with SmtpSink(["-Q", "CONNECT"]) as sink:
        port = sink.port
        [report] = send(engine, relay(settings, port))
    assert report.counts == {"deferred": 4} and not report.clean
    with SmtpSink(dump=True, port=port) as sink:
        send(engine, relay(settings, port), clock=lambda: NOW + timedelta(hours=1))
        received = sink.received()
    assert counts(engine) == {"sent": 4}
    assert sorted(received.values()) == [1, 1, 1, 1]


def test_connection_refused_then_up(engine, settings):
    seed(engine, NOW, subscribers=3)
    from benchmarks.sink import free_port

    port = free_port()
    send(engine, relay(settings, port))
    assert counts(engine) == {"deferred": 3}
    with SmtpSink(dump=True, port=port) as sink:
        send(engine, relay(settings, port), retry_deferred=True)  # the operator fixed the relay: now
        assert sum(sink.received().values()) == 3
    assert counts(engine) == {"sent": 3}


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
    s = relay(settings, 0)
    s = replace(s, send=replace(s.send, batch_size=2))
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

    from tests.smtpd import FaultHandler, ThreadedSMTPServer

    seed(engine, NOW, subscribers=5)

    def authenticator(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=False, handled=False)

    server = ThreadedSMTPServer(FaultHandler())
    server.smtp_kwargs = {"tls_context": tls_context, "require_starttls": True, "authenticator": authenticator}
    with server:
        s = relay(settings, server.port, tls="starttls", username="digest", validate_certs=False)
        s = replace(s, smtp=replace(s.smtp, password="wrong"))
        with pytest.raises(SendAborted, match="authentication failed"):
            send(engine, s)
        assert server.handler.messages == []
    assert counts(engine) == {"deferred": 5}  # nobody is blamed; they go out once the password is fixed
