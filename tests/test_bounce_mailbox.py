"""The bounce mailbox: DSNs, ARF complaint reports and mail to the List-Unsubscribe address, built from real digest
messages sent into aiosmtpd, read from a real Dovecot over IMAP (`digest bounces poll`) and from a Maildir
(`digest bounces import`); flufl.bounce reads a non-standard bounce."""

from __future__ import annotations

import logging
import mailbox
import re
import time
from dataclasses import replace
from email import message_from_bytes, policy

import pytest
from imapclient import IMAPClient
from typer.testing import CliRunner

from digest import store
from digest.config.sections import InboundSecrets
from digest.ingest.bounces import read_mailbox
from digest.ingest.inbound import read_inbound
from digest.operations.bounces import import_bounces
from digest.operations.mailbox import poll_bounce_mailbox
from tests.conftest import NOW, ROOT
from tests.dovecot import DOVECOT, Dovecot
from tests.factories import seed, send_day
from tests.postfix import RUNNABLE, WHY_NOT, Postfix
from tests.test_bounces import dsn

pytestmark = pytest.mark.store
needs_dovecot = pytest.mark.skipif(DOVECOT is None, reason="dovecot not installed (Debian dovecot-imapd; .ci/run installs it)")
PASSWORD = "bounce-box-password"


def crlf(data: bytes) -> bytes:
    return re.sub(rb"\r?\n", b"\r\n", data)


def arf(original: bytes, *, headers_only: bool = False, feedback_type: str = "abuse") -> bytes:
    """An RFC 5965 feedback report about `original` (the whole message, or its headers only)."""
    msg = message_from_bytes(original, policy=policy.default)
    recipient = msg["To"].addresses[0].addr_spec
    returned = original.split(b"\r\n\r\n", 1)[0] + b"\r\n" if headers_only else original
    kind = "text/rfc822-headers" if headers_only else "message/rfc822"
    return crlf(b"""From: <staff@fbl.remote.example>
Date: Fri, 27 Nov 2026 08:00:00 +0000
Subject: FW: Your daily digest
To: <abuse@news.example.com>
Message-ID: <fbl.1234@fbl.remote.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="part1_13d.2e68ed54"

--part1_13d.2e68ed54
Content-Type: text/plain; charset="US-ASCII"
Content-Transfer-Encoding: 7bit

This is an email abuse report for an email message received from IP 192.0.2.1 on Fri, 27 Nov 2026.

--part1_13d.2e68ed54
Content-Type: message/feedback-report

Feedback-Type: """ + feedback_type.encode() + b"""
User-Agent: SomeGenerator/1.0
Version: 1
Original-Rcpt-To: <""" + recipient.encode() + b""">
Arrival-Date: Fri, 27 Nov 2026 07:00:05 +0000
Source-IP: 192.0.2.1

--part1_13d.2e68ed54
Content-Type: """ + kind.encode() + b"""
Content-Disposition: inline

""") + returned + b"\r\n--part1_13d.2e68ed54--\r\n"


def unsubscribe_mail(original: bytes, *, in_address: bool = False) -> bytes:
    """What a mail client sends for the List-Unsubscribe mailto: of `original`."""
    msg = message_from_bytes(original, policy=policy.default)
    address, token = re.search(r"<mailto:([^?>]+)\?subject=([^>]+)>", " ".join(str(msg["List-Unsubscribe"]).split())).groups()
    reader = msg["To"].addresses[0].addr_spec
    to = address.replace("@", f"+{token}@") if in_address else address
    subject = "unsubscribe" if in_address else token
    return crlf(f"From: {reader}\nTo: {to}\nSubject: {subject}\nDate: Fri, 27 Nov 2026 09:00:00 +0000\n"
                f"Message-ID: <unsub.{reader}>\n\nPlease take me off this list.\n".encode())


def junk() -> bytes:
    return crlf(b"From: someone@elsewhere.example\nTo: bounces@news.example.com\nSubject: hello\n\nNot a bounce.\n")


@pytest.fixture
def outbox(engine, smtp_settings, smtpd):
    """Today's edition sent over SMTP to four readers: {recipient: (envelope sender, the message as received)}."""
    seed(engine, NOW, subscribers=4)
    send_day(engine, smtp_settings)
    return {m.rcpt_tos[0]: (m.mail_from, crlf(m.data)) for m in smtpd.handler.messages}


def kinds(outbox) -> dict[str, bytes]:
    """One message of each kind about readers 1 to 3, and one the mailbox cannot read."""
    sender, first = outbox["reader1@example.com"]
    message_id = str(message_from_bytes(first, policy=policy.default)["Message-ID"])
    return {"dsn": crlf(dsn(status="5.1.1", sender=sender, message_id=message_id, recipient="reader1@example.com")),
            "arf": arf(outbox["reader2@example.com"][1]),
            "mailto": unsubscribe_mail(outbox["reader3@example.com"][1]),
            "junk": junk()}


def readers(engine) -> dict[str, tuple[str, str]]:
    """{email: (status, the subscription's status)} of every reader."""
    with store.read_session(engine) as session:
        subs = store.subscribers.list_subscribers(session)
        rows = store.subscriptions.subscriptions_of(session, subscriber_ids=[s.id for s in subs])
        return {s.email: (str(s.status), str(rows[s.id][0].status)) for s in subs}


def imap_settings(settings, server: Dovecot):
    return replace(settings, inbound=InboundSecrets(imap_password=PASSWORD),
                   bounces=replace(settings.bounces, imap_host="127.0.0.1", imap_port=server.port,
                                   imap_user="bounces", imap_tls="none"))


def folder(server: Dovecot, name: str) -> list[bytes]:
    with IMAPClient("127.0.0.1", port=server.port, ssl=False) as client:
        client.login("bounces", PASSWORD)
        client.select_folder(name, readonly=True)
        uids = client.search("ALL")
        return [item[b"BODY[]"] for item in client.fetch(uids, ["BODY.PEEK[]"]).values()] if uids else []


@needs_dovecot
def test_poll_reads_a_dsn_an_arf_report_and_an_unsubscribe_mail_from_dovecot(engine, settings, outbox):
    messages = kinds(outbox)
    with Dovecot({"bounces": PASSWORD}) as server:
        with IMAPClient("127.0.0.1", port=server.port, ssl=False) as client:
            client.login("bounces", PASSWORD)
            for data in messages.values():
                client.append("INBOX", data)
        summary = poll_bounce_mailbox(imap_settings(settings, server), now=NOW, engine=engine)
        assert (summary.messages, summary.moved, summary.unreadable) == (4, 3, 1)
        assert (summary.suppressed, summary.complained, summary.unsubscribed) == (
            ["reader1@example.com"], ["reader2@example.com"], ["reader3@example.com"])
        assert folder(server, "INBOX") == [messages["junk"]]  # what it cannot read stays
        assert sorted(folder(server, "digest-processed")) == sorted(messages[k] for k in ("dsn", "arf", "mailto"))
        again = poll_bounce_mailbox(imap_settings(settings, server), now=NOW, engine=engine)
        assert (again.messages, again.moved, again.unreadable, again.suppressed) == (1, 0, 1, [])
    assert readers(engine) == {"reader1@example.com": ("bounced", "active"),
                               "reader2@example.com": ("complained", "active"),
                               "reader3@example.com": ("active", "unsubscribed"),
                               "reader4@example.com": ("active", "active")}


@needs_dovecot
def test_bounces_poll_command_and_a_wrong_password(engine, settings, outbox, tmp_path):
    from digest.cli import app

    with Dovecot({"bounces": PASSWORD}) as server:
        with IMAPClient("127.0.0.1", port=server.port, ssl=False) as client:
            client.login("bounces", PASSWORD)
            client.append("INBOX", kinds(outbox)["dsn"])
        env = {"DIGEST_STORE_URL": settings.store.url, "DIGEST_SECRET_KEY": settings.secret_key,
               "DIGEST_BOUNCES_IMAP_HOST": "127.0.0.1", "DIGEST_BOUNCES_IMAP_PORT": str(server.port),
               "DIGEST_BOUNCES_IMAP_USER": "bounces", "DIGEST_BOUNCES_IMAP_TLS": "none"}
        args = ["--config", str(ROOT / "config.toml"), "bounces", "poll"]
        wrong = CliRunner().invoke(app, args, env=env | {"DIGEST_IMAP_PASSWORD": "wrong"})
        assert wrong.exit_code == 1 and "bounce mailbox 127.0.0.1" in wrong.output and "Traceback" not in wrong.output
        unset = CliRunner().invoke(app, args, env=env)
        assert unset.exit_code == 1 and "DIGEST_IMAP_PASSWORD" in unset.output
        result = CliRunner().invoke(app, args, env=env | {"DIGEST_IMAP_PASSWORD": PASSWORD})
        assert result.exit_code == 0, result.output
        assert "1 deliveries marked bounced (1 hard)" in result.output and "1 moved" in result.output
        assert "suppressed reader1@example.com" in result.output
    assert readers(engine)["reader1@example.com"][0] == "bounced"


def test_import_reads_the_three_kinds_from_a_maildir(engine, settings, outbox, tmp_path):
    box = mailbox.Maildir(str(tmp_path / "bounces"), create=True)
    for data in kinds(outbox).values():
        box.add(data)
    box.add(arf(outbox["reader4@example.com"][1], headers_only=True))
    summary = import_bounces(engine, settings, read_mailbox(tmp_path / "bounces"), now=NOW)
    assert (summary.messages, summary.unreadable, sorted(summary.complained)) == (
        5, 1, ["reader2@example.com", "reader4@example.com"])
    assert readers(engine)["reader3@example.com"] == ("active", "unsubscribed")
    again = import_bounces(engine, settings, read_mailbox(tmp_path / "bounces"), now=NOW)
    assert (again.complained, again.suppressed, again.recorded) == ([], [], 0)  # replays change nothing


def test_forged_complaints_and_unsubscribe_mail_change_nothing(engine, settings, outbox):
    original = outbox["reader2@example.com"][1]
    foreign = original.replace(b"Message-ID: <", b"Message-ID: <x").replace(b"bounces+", b"bounces+x")
    tampered = unsubscribe_mail(outbox["reader3@example.com"][1]).replace(b"Subject: ", b"Subject: x")
    not_spam = arf(outbox["reader1@example.com"][1], feedback_type="not-spam")
    summary = import_bounces(engine, settings, [arf(foreign), tampered, not_spam], now=NOW)
    assert (summary.complained, summary.unsubscribed, summary.unmatched, summary.ignored) == ([], [], 2, 1)
    assert set(readers(engine).values()) == {("active", "active")}


def test_the_token_may_be_in_the_unsubscribe_address(engine, settings, outbox):
    mail = unsubscribe_mail(outbox["reader4@example.com"][1], in_address=True)
    assert read_inbound(mail, settings.sender_domain).kind == "unsubscribe"
    assert import_bounces(engine, settings, [mail], now=NOW).unsubscribed == ["reader4@example.com"]
    assert readers(engine)["reader4@example.com"] == ("active", "unsubscribed")


def test_flufl_bounce_reads_a_non_standard_bounce(engine, settings, outbox):
    sender, original = outbox["reader1@example.com"]
    qmail = crlf(f"""From: MAILER-DAEMON@mx.example.com
To: {sender}
Subject: failure notice
Date: Fri, 27 Nov 2026 07:01:00 +0000

Hi. This is the qmail-send program at mx.example.com.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<reader1@example.com>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

""".encode()) + original
    inbound = read_inbound(qmail, settings.sender_domain)
    assert inbound.kind == "bounce" and [r.recipient for r in inbound.bounces] == ["reader1@example.com"]
    summary = import_bounces(engine, settings, [qmail], now=NOW)
    assert (summary.recorded, dict(summary.kinds)) == (1, {"soft": 1})  # counted, suppressed only after a streak
    assert readers(engine)["reader1@example.com"] == ("active", "active")
    with store.read_session(engine) as session:
        sub = store.subscribers.find_subscriber(session, email="reader1@example.com")
        assert store.delivery_status.recent_outcomes(session, subscriber_id=sub.id)[0][0] == "bounced"


@needs_dovecot
@pytest.mark.skipif(not RUNNABLE, reason=WHY_NOT)
def test_postfix_bounces_return_to_the_verp_address_and_poll_suppresses_exactly_those_readers(engine, settings):
    """digest → a real Postfix (MX of example.com, where only reader1 and reader2 have mailboxes) → Postfix's own
    DSNs to bounces+TOKEN@news.example.com → the Dovecot mailbox → `bounces poll`."""
    seed(engine, NOW, subscribers=4)
    with Dovecot({"bounces": PASSWORD}) as server, \
            Postfix(server, "example.com", ["reader1", "reader2"], settings.sender_domain) as relay:
        reports = send_day(engine, replace(settings, smtp=replace(settings.smtp, port=relay.port)))
        assert reports[0].counts == {"sent": 4}  # Postfix accepts every recipient, then bounces two itself
        inbox = wait_for(server, "INBOX", 2, relay)
        assert all(b"report-type=delivery-status" in m and b"X-Postfix-Sender: rfc822; bounces+" in m for m in inbox)
        summary = poll_bounce_mailbox(imap_settings(settings, server), now=NOW, engine=engine)
        assert (summary.recorded, dict(summary.kinds), summary.moved) == (2, {"hard": 2}, 2)
        assert sorted(summary.suppressed) == ["reader3@example.com", "reader4@example.com"]
        assert folder(server, "INBOX") == []
        delivered = {u: len(list((server.root / "mail" / "example.com" / u / "Maildir" / "new").iterdir()))
                     for u in ("reader1", "reader2")}
    assert delivered == {"reader1": 1, "reader2": 1}
    assert {e: s for e, (s, _) in readers(engine).items()} == {
        "reader1@example.com": "active", "reader2@example.com": "active",
        "reader3@example.com": "bounced", "reader4@example.com": "bounced"}


def wait_for(server: Dovecot, name: str, count: int, relay: Postfix, seconds: float = 60) -> list[bytes]:
    """The folder's messages once it holds `count` (Postfix delivers and bounces asynchronously)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = folder(server, name)
        if len(found) >= count:
            return found
        time.sleep(0.3)
    raise AssertionError(f"{name} holds {len(folder(server, name))} of {count} messages; queue: {relay.log()}")


@needs_dovecot
def test_the_daemon_job_polls_and_never_raises(engine, settings, outbox, caplog):
    from digest.operations.mailbox import poll_job

    caplog.set_level(logging.INFO, "digest.bounces")
    assert poll_job(engine, settings, lambda: NOW)() is None  # no [bounces] imap_host: logged, not raised
    assert "bounce mailbox not read: [bounces] imap_host" in caplog.text
    with Dovecot({"bounces": PASSWORD}) as server:
        with IMAPClient("127.0.0.1", port=server.port, ssl=False) as client:
            client.login("bounces", PASSWORD)
            client.append("INBOX", kinds(outbox)["arf"])
        summary = poll_job(engine, imap_settings(settings, server), lambda: NOW)()
    assert summary.complained == ["reader2@example.com"] and "1 complaints" in caplog.text
