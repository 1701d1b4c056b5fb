"""The whole pipeline against a real aiosmtpd server: plan, render, send, record, resume."""

from __future__ import annotations

import asyncio
from email import message_from_bytes, policy

import pytest

from digest import store
from digest.pipeline import dry_run_day, run_day
from digest.send import RecordingMailer, SmtpMailer
from tests.conftest import NOW, store_state
from tests.factories import seed

pytestmark = pytest.mark.store


def send(engine, settings, day=NOW.date(), **kw):
    async def go():
        mailer = SmtpMailer(settings.smtp, local_hostname=settings.sender_domain)
        try:
            return await run_day(engine, settings, mailer, day, clock=lambda: NOW, **kw), mailer
        finally:
            await mailer.close()
    return asyncio.run(go())


def test_edition_reaches_every_subscriber_once(engine, smtp_settings, smtpd):
    seed(engine, NOW, subscribers=5)
    reports, mailer = send(engine, smtp_settings)
    assert [r.key for r in reports] == ["digest:2026-11-27"]
    assert reports[0].counts == {"sent": 5}
    assert sorted(r for m in smtpd.handler.messages for r in m.rcpt_tos) == [f"reader{i}@example.com" for i in range(1, 6)]
    assert mailer.opened <= smtp_settings.smtp.connections  # connections were reused, not one per message


def test_running_the_same_edition_again_sends_nothing(engine, smtp_settings, smtpd):
    seed(engine, NOW, subscribers=3)
    send(engine, smtp_settings)
    reports, _ = send(engine, smtp_settings)
    assert len(smtpd.handler.messages) == 3
    assert reports[0].attempted == 0 and reports[0].counts == {"sent": 3}


def test_inlining_runs_once_per_variant(engine, smtp_settings, smtpd):
    seed(engine, NOW, subscribers=6)
    reports, _ = send(engine, smtp_settings)
    assert reports[0].variants == 1
    assert reports[0].inlined == 1


def test_unsubscribed_between_plan_and_send_is_skipped(engine, smtp_settings, smtpd):
    from digest.pipeline.plan import edition_plans, plan_edition

    seed(engine, NOW, subscribers=2)
    plan = edition_plans(smtp_settings, NOW.date())[0]
    plan_edition(engine, smtp_settings, plan, now=NOW)
    with store.session_scope(engine) as session:
        store.subscribers.find_subscriber(session, email="reader1@example.com").status = "unsubscribed"
    reports, _ = send(engine, smtp_settings)
    assert reports[0].counts == {"sent": 1, "skipped": 1}
    assert [m.rcpt_tos for m in smtpd.handler.messages] == [["reader2@example.com"]]


def test_articles_already_sent_are_not_sent_again_next_day(engine, smtp_settings, smtpd):
    from datetime import timedelta

    seed(engine, NOW, articles=4, subscribers=1)
    send(engine, smtp_settings)
    reports, _ = send(engine, smtp_settings, day=(NOW + timedelta(days=1)).date())
    assert reports[0].counts == {"skipped": 1}
    with store.read_session(engine) as session:
        problems = store.delivery_status.edition_problems(session, edition_id=2)
    assert problems == []  # skipped is not a problem...
    with store.read_session(engine) as session:
        from sqlmodel import select
        from digest.models import Delivery
        error = session.exec(select(Delivery.error).where(Delivery.edition_id == 2)).one()
    assert error == "nothing new: every matching story was already sent to this subscriber"


def test_each_message_parses_back_with_its_headers(engine, smtp_settings, smtpd):
    seed(engine, NOW, subscribers=1)
    send(engine, smtp_settings)
    msg = message_from_bytes(smtpd.handler.messages[0].data, policy=policy.default)
    for header in ("From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Unsubscribe",
                   "List-Unsubscribe-Post", "Auto-Submitted"):
        assert msg[header], header
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    with store.read_session(engine) as session:
        from sqlmodel import select
        from digest.models import Delivery
        message_id = session.exec(select(Delivery.message_id)).one()
    assert message_id == msg["Message-ID"]
    assert smtpd.handler.messages[0].mail_from.startswith("bounces+")


def test_dry_run_writes_nothing_and_connects_nowhere(engine, settings, smtpd):
    seed(engine, NOW, subscribers=4)
    engine.dispose()
    before = store_state(settings.store.url)
    lines = []
    ro = store.open_engine(settings.store.url, readonly=True)
    reports = dry_run_day(ro, settings, NOW.date(), clock=lambda: NOW, on_line=lines.append)
    ro.dispose()
    assert store_state(settings.store.url) == before
    assert smtpd.handler.messages == [] and smtpd.handler.ehlo_names == []
    assert len(lines) == 4 and all(line.size > 1000 for line in lines)
    assert reports[0].counts == {"would send": 4}


def test_recording_mailer_gets_what_smtp_would(engine, settings):
    seed(engine, NOW, subscribers=2)
    mailer = RecordingMailer()
    reports = asyncio.run(run_day(engine, settings, mailer, NOW.date(), clock=lambda: NOW))
    assert reports[0].counts == {"sent": 2}
    assert {m.recipient for m in mailer.messages} == {"reader1@example.com", "reader2@example.com"}


def test_a_reader_whose_message_cannot_be_built_fails_alone(engine, smtp_settings, smtpd):
    """An address that slipped past validation (here: written straight into the store) fails that delivery
    with the reason; everyone else in the batch is still sent."""
    from tests.factories import subscriber

    seed(engine, NOW, subscribers=2)
    with store.session_scope(engine) as session:
        store.subscribers.upsert_subscribers(session, subscribers=[subscriber("jörg@example.com", name="Jörg")], now=NOW)
    reports, _ = send(engine, smtp_settings)
    assert reports[0].counts == {"sent": 2, "failed": 1}
    assert sorted(r for m in smtpd.handler.messages for r in m.rcpt_tos) == ["reader1@example.com",
                                                                             "reader2@example.com"]
    with store.read_session(engine) as session:
        [(_, status, _, error)] = store.delivery_status.edition_problems(session, edition_id=1)
    assert status == "failed" and error.startswith("cannot build the message")
