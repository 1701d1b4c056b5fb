"""Bounces: the real Postfix DSN fixture, VERP tokens, suppression rules, `digest bounces import`, and the
send-time re-check that keeps a suppressed reader out of the next edition."""

from __future__ import annotations

import asyncio
import mailbox
from datetime import timedelta

import pytest
from sqlmodel import select

from digest import store
from digest.ingest.bounces import bounce_kind, parse_report, read_mailbox
from digest.models import Delivery, DeliveryStatus, Subscriber, SubscriberStatus
from digest.pipeline import run_day
from digest.operations.bounces import import_bounces, should_suppress
from digest.send import RecordingMailer
from digest.tokens import make_token
from tests.conftest import NOW, SHARED
from tests.factories import article, seed, subscriber

pytestmark = pytest.mark.store

FIXTURE = SHARED / "postfix-dsn.mbox"
FIXTURE_MESSAGE_ID = "<179582432380.10079.6571558956572985645@news.example.com>"


def fixture_bytes() -> bytes:
    return next(read_mailbox(FIXTURE))


def dsn(*, status: str = "5.1.1", sender: str = "root@localhost", message_id: str = FIXTURE_MESSAGE_ID,
        action: str = "failed", recipient: str = "reader@remote.example") -> bytes:
    """The real Postfix report, with the status, the envelope sender, the recipient and the returned Message-ID
    swapped."""
    data = fixture_bytes()
    for old, new in ((b"5.3.0", status.encode()), (b"Action: failed", f"Action: {action}".encode()),
                     (b"reader@remote.example", recipient.encode()),
                     (b"X-Postfix-Sender: rfc822; root@localhost", f"X-Postfix-Sender: rfc822; {sender}".encode()),
                     (b"Return-Path: <root@localhost>", f"Return-Path: <{sender}>".encode()),
                     (FIXTURE_MESSAGE_ID.encode(), message_id.encode())):
        data = data.replace(old, new)
    return data


def owner(settings, delivery_id: int) -> tuple[str, str]:
    """(recipient, token identity) of a delivery; ("reader@remote.example", "") when there is none."""
    engine = store.open_engine(settings.store.url)
    try:
        with store.read_session(engine) as session:
            return (store.deliveries.delivery_recipient(session, delivery_id=delivery_id) or "reader@remote.example",
                    store.deliveries.delivery_token_key(session, delivery_id=delivery_id) or "")
    finally:
        engine.dispose()


def verp(settings, delivery_id: int) -> str:
    token = make_token(settings.secret_key, "bounce", delivery_id, settings.sender.list_id,
                       ident=owner(settings, delivery_id)[1])
    return f"bounces+{token}@{settings.sender_domain}"


def bounce_of(settings, delivery_id: int, **kw) -> bytes:
    """The report a relay sends back about that delivery: its VERP address, its recipient."""
    return dsn(sender=verp(settings, delivery_id), recipient=owner(settings, delivery_id)[0], **kw)


def sent(engine, email: str, day: int, *, message_id: str | None = None) -> tuple[int, int]:
    """(subscriber id, delivery id) of a `sent` delivery of edition `digest:2026-11-<day>`."""
    with store.session_scope(engine) as session:
        sub = store.subscribers.find_subscriber(session, email=email)
        if sub is None:
            store.subscribers.upsert_subscribers(session, subscribers=[subscriber(email)], now=NOW)
            sub = store.subscribers.find_subscriber(session, email=email)
        edition = store.editions.ensure_edition(session, key=f"digest:2026-11-{day:02d}", period="daily",
                                       date=f"2026-11-{day:02d}", cutoff_at=NOW, now=NOW, newsletter="digest")
        return sub.id, delivery_row(session, edition.id, sub.id, DeliveryStatus.sent,
                                    message_id or f"<d{day}.{sub.id}@news.example.com>")


def delivery_row(session, edition_id: int, subscriber_id: int, status: DeliveryStatus, message_id: str | None) -> int:
    delivery = Delivery(edition_id=edition_id, subscriber_id=subscriber_id, status=status, message_id=message_id,
                        variant_key="v", created_at=NOW, updated_at=NOW)
    session.add(delivery)
    session.flush()
    return delivery.id


def state(engine, delivery_id: int) -> tuple[str, str]:
    with store.read_session(engine) as session:
        delivery = session.get(Delivery, delivery_id)
        return str(delivery.status), str(session.get(Subscriber, delivery.subscriber_id).status)


# ── parsing (pure) ──────────────────────────────────────────────────────────────────────────────────

def test_the_real_postfix_report_parses():
    [report] = parse_report(fixture_bytes())
    assert report.recipient == "reader@remote.example"
    assert (report.action, report.status, report.kind) == ("failed", "5.3.0", "soft")
    assert report.diagnostic == "smtp; 500 5.3.0 Error: command failed"
    assert report.smtp_code == 500 and report.reply == "5.3.0 500 5.3.0 Error: command failed"
    assert report.message_id == FIXTURE_MESSAGE_ID
    assert report.verp_tokens == ()  # sent from root@localhost: no VERP address anywhere


@pytest.mark.sqlite_only("never opens the store: the settings give the secret key")
def test_verp_token_is_found_in_the_envelope_fields(settings):
    [report] = parse_report(dsn(sender=f"bounces+{make_token(settings.secret_key, 'bounce', 42, settings.sender.list_id)}@x.org"))
    assert report.verp_tokens == (make_token(settings.secret_key, "bounce", 42, settings.sender.list_id),)


@pytest.mark.parametrize("status, kind", [
    ("5.1.1", "hard"), ("5.1.10", "hard"), ("5.2.2", "soft"), ("4.4.7", "soft"), ("5.3.0", "soft"),
    ("5.7.1", "policy"), ("4.7.0", "policy"), ("5.7.26", "policy"), ("", "soft"), ("garbage", "soft"),
])
def test_bounce_kinds(status, kind):
    assert bounce_kind(status) == kind


def test_a_message_that_is_not_a_report_gives_nothing():
    vacation = (b"From: reader@remote.example\r\nTo: bounces+abc.def@news.example.com\r\nSubject: Out of office\r\n"
                b"Auto-Submitted: auto-replied\r\n\r\nI am away until Monday.\r\n")
    assert parse_report(vacation) == []
    assert parse_report(b"\x00\xff not even headers") == []


@pytest.mark.parametrize("kind, history, threshold, expected", [
    ("hard", [], 3, True),
    ("policy", [("bounced", "5.7.1 blocked")] * 9, 3, False),
    ("soft", [("bounced", "5.2.2 full")] * 2, 3, False),
    ("soft", [("bounced", "5.2.2 full")] * 3, 3, True),
    ("soft", [("bounced", "4.4.7 expired"), ("bounced", "5.7.1 policy"), ("bounced", "5.2.2 full")], 3, False),
    ("soft", [("bounced", "5.2.2 full"), ("sent", None), ("bounced", "5.2.2"), ("bounced", "5.2.2")], 3, False),
])
def test_suppression_rules(kind, history, threshold, expected):
    assert should_suppress(kind, history, threshold) is expected


def test_read_mailbox_refuses_a_directory_that_is_not_a_maildir(tmp_path):
    from digest.errors import InputError

    with pytest.raises(InputError, match="not a Maildir"):
        list(read_mailbox(tmp_path))
    with pytest.raises(InputError, match="no such file"):
        list(read_mailbox(tmp_path / "missing.mbox"))


def test_a_single_message_file_is_read_as_one_report_not_as_an_empty_mbox(tmp_path, engine, settings):
    """A bounce saved from a mail client as one .eml (no mbox 'From ' line) is one message, not zero."""
    _, delivery_id = sent(engine, "gone@remote.example", 27)
    eml = tmp_path / "bounce.eml"
    eml.write_bytes(bounce_of(settings, delivery_id))
    assert list(read_mailbox(eml)) == [eml.read_bytes()]
    summary = import_bounces(engine, settings, read_mailbox(eml), now=NOW)
    assert (summary.messages, summary.recorded) == (1, 1)
    (tmp_path / "empty.mbox").write_bytes(b"")
    assert list(read_mailbox(tmp_path / "empty.mbox")) == []


# ── into the store ──────────────────────────────────────────────────────────────────────────────────

def test_hard_bounce_by_verp_marks_bounced_and_suppresses_at_once(engine, settings):
    _, delivery_id = sent(engine, "gone@remote.example", 27)
    summary = import_bounces(engine, settings, [bounce_of(settings, delivery_id)], now=NOW)
    assert (summary.recorded, summary.suppressed, dict(summary.kinds)) == (1, ["gone@remote.example"], {"hard": 1})
    assert state(engine, delivery_id) == ("bounced", "bounced")
    with store.read_session(engine) as session:
        delivery = session.get(Delivery, delivery_id)
    assert delivery.smtp_code == 500 and delivery.smtp_reply.startswith("5.1.1 ")


def test_importing_the_same_reports_twice_changes_nothing_more(engine, settings):
    _, delivery_id = sent(engine, "gone@remote.example", 27)
    report = bounce_of(settings, delivery_id, status="5.2.2")
    import_bounces(engine, settings, [report], now=NOW)
    again = import_bounces(engine, settings, [report, report], now=NOW)
    assert (again.recorded, again.repeated) == (0, 2)
    assert state(engine, delivery_id) == ("bounced", "active")


def test_the_fixture_matches_by_returned_message_id_and_a_soft_bounce_does_not_suppress(engine, settings):
    _, delivery_id = sent(engine, "reader@remote.example", 27, message_id=FIXTURE_MESSAGE_ID)
    summary = import_bounces(engine, settings, read_mailbox(FIXTURE), now=NOW)
    assert (summary.messages, summary.recorded, dict(summary.kinds), summary.suppressed) == (1, 1, {"soft": 1}, [])
    assert state(engine, delivery_id) == ("bounced", "active")


def test_soft_bounces_suppress_after_the_threshold(engine, settings):
    ids = [sent(engine, "full@remote.example", day)[1] for day in (25, 26, 27)]
    for n, delivery_id in enumerate(ids, start=1):
        summary = import_bounces(engine, settings, [bounce_of(settings, delivery_id, status="5.2.2")], now=NOW)
        assert summary.suppressed == (["full@remote.example"] if n == settings.bounces.soft_threshold else [])
    assert state(engine, ids[-1]) == ("bounced", "bounced")


def test_a_delivery_that_went_through_resets_the_soft_count(engine, settings):
    first, _, third = [sent(engine, "flaky@remote.example", day)[1] for day in (25, 26, 27)]
    for delivery_id in (first, third):
        import_bounces(engine, settings, [bounce_of(settings, delivery_id, status="4.4.7")], now=NOW)
    assert state(engine, third) == ("bounced", "active")


def test_policy_bounces_never_suppress(engine, settings):
    ids = [sent(engine, "strict@remote.example", day)[1] for day in range(20, 26)]
    summary = import_bounces(engine, settings, [bounce_of(settings, i, status="5.7.1") for i in ids], now=NOW)
    assert (summary.recorded, summary.suppressed, dict(summary.kinds)) == (6, [], {"policy": 6})
    assert state(engine, ids[-1]) == ("bounced", "active")


def test_forged_or_unknown_reports_change_nothing(engine, settings):
    _, delivery_id = sent(engine, "reader@remote.example", 27)
    token = make_token(settings.secret_key, "bounce", delivery_id, settings.sender.list_id)
    forged = [dsn(sender=f"bounces+{token[:-2]}xx@{settings.sender_domain}"),  # tampered MAC
              dsn(sender=f"bounces+{make_token('other-key', 'bounce', delivery_id, settings.sender.list_id)}@x.org"),
              bounce_of(settings, 9999),  # a genuine token for no delivery
              fixture_bytes(),  # recipient known, but no VERP token and a Message-ID we never sent
              bounce_of(settings, delivery_id, action="delayed")]  # not a failure
    summary = import_bounces(engine, settings, forged, now=NOW)
    assert (summary.recorded, summary.unmatched, summary.ignored) == (0, 4, 1)
    assert state(engine, delivery_id) == ("sent", "active")


def test_a_bounce_for_a_delivery_never_sent_changes_nothing(engine, settings):
    with store.session_scope(engine) as session:
        store.subscribers.upsert_subscribers(session, subscribers=[subscriber("x@remote.example")], now=NOW)
        sub = store.subscribers.find_subscriber(session, email="x@remote.example")
        edition = store.editions.ensure_edition(session, key="digest:2026-11-27", period="daily", date="2026-11-27",
                                       cutoff_at=NOW, now=NOW, newsletter="digest")
        delivery_id = delivery_row(session, edition.id, sub.id, DeliveryStatus.skipped, None)
    summary = import_bounces(engine, settings, [bounce_of(settings, delivery_id)], now=NOW)
    assert summary.unmatched == 1 and state(engine, delivery_id) == ("skipped", "active")


# ── the whole path ──────────────────────────────────────────────────────────────────────────────────

def send(engine, settings, day):
    mailer = RecordingMailer()
    reports = asyncio.run(run_day(engine, settings, mailer, day, clock=lambda: NOW))
    return reports, mailer


def test_a_bounce_of_this_edition_keeps_the_reader_out_of_a_queued_one(engine, settings, tmp_path):
    """VERP from the real envelope sender → suppressed → the next edition's queued delivery is skipped at send."""
    from digest.pipeline.plan import edition_plans, plan_edition

    seed(engine, NOW, subscribers=2)
    _, mailer = send(engine, settings, NOW.date())
    bounced = next(m for m in mailer.messages if m.recipient == "reader1@example.com")
    tomorrow = (NOW + timedelta(days=1)).date()
    with store.session_scope(engine) as session:  # tomorrow's news
        store.articles.upsert_articles(session, now=NOW, articles=[
            article(101, NOW + timedelta(hours=20), title="Harbour bridge reopens after repairs", summary="Open."),
            article(102, NOW + timedelta(hours=21), title="Orchestra announces winter season", summary="Soon.")])
    plan_edition(engine, settings, edition_plans(settings, tomorrow)[0], now=NOW)  # both queued
    box = mailbox.Maildir(str(tmp_path / "bounces"), create=True)
    box.add(dsn(sender=bounced.envelope_from, message_id="<not-ours@example.org>", recipient=bounced.recipient))
    summary = import_bounces(engine, settings, read_mailbox(tmp_path / "bounces"), now=NOW)
    assert summary.suppressed == ["reader1@example.com"]
    reports, mailer = send(engine, settings, tomorrow)
    assert [m.recipient for m in mailer.messages] == ["reader2@example.com"]
    with store.read_session(engine) as session:
        errors = session.exec(select(Delivery.error).where(Delivery.status == DeliveryStatus.skipped)).all()
    assert "subscriber is bounced at send time" in errors


def test_a_mailbox_refused_while_sending_suppresses_the_reader(engine, smtp_settings, smtpd):
    from digest.send import SmtpMailer

    seed(engine, NOW, subscribers=2)
    smtpd.handler.rcpt_replies["reader2@example.com"] = "550 5.1.1 <reader2@example.com>: user unknown"

    async def go():
        mailer = SmtpMailer(smtp_settings.smtp, local_hostname=smtp_settings.sender_domain)
        try:
            return await run_day(engine, smtp_settings, mailer, NOW.date(), clock=lambda: NOW)
        finally:
            await mailer.close()

    reports = asyncio.run(go())
    assert reports[0].counts == {"sent": 1, "bounced": 1}
    with store.read_session(engine) as session:
        assert store.subscribers.find_subscriber(session, email="reader2@example.com").status == SubscriberStatus.bounced
        assert store.subscribers.find_subscriber(session, email="reader1@example.com").status == SubscriberStatus.active


def test_bounces_import_command(tmp_path, settings, engine):
    from typer.testing import CliRunner

    from digest.cli import app
    from tests.conftest import ROOT

    _, delivery_id = sent(engine, "gone@remote.example", 27)
    mbox = mailbox.mbox(str(tmp_path / "bounces.mbox"))
    mbox.add(bounce_of(settings, delivery_id))
    mbox.add(fixture_bytes())
    mbox.flush()
    env = {"DIGEST_STORE_URL": settings.store.url, "DIGEST_SECRET_KEY": settings.secret_key}
    result = CliRunner().invoke(app, ["--config", str(ROOT / "config.toml"), "bounces", "import",
                                      str(tmp_path / "bounces.mbox")], env=env)
    assert result.exit_code == 0, result.output
    assert "read 2 messages: 1 deliveries marked bounced (1 hard)" in result.output
    assert "1 not ours" in result.output and "suppressed gone@remote.example" in result.output
    missing = CliRunner().invoke(app, ["--config", str(ROOT / "config.toml"), "bounces", "import",
                                       str(tmp_path / "nope")], env=env)
    assert missing.exit_code == 1 and "no such file or directory" in missing.output
