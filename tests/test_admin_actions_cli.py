"""An operator's actions on an edition from the command line (`digest editions pause | resume | retry-deferred |
retry-unknown`, thin clients of `operations.edition_actions`) and what they do to the send path: a paused
edition is not sent by `digest send` (a real aiosmtpd) until resumed, a sender stops between batches when the
edition is paused under it, the workers' tick enqueues no shard of a paused edition."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update
from sqlmodel import select

from digest import store
from digest.models import Delivery, DeliveryStatus, Edition
from digest.operations import edition_actions as ops
from tests.conftest import NOW
from tests.factories import seed, send_day
from tests.test_admin import digest

pytestmark = pytest.mark.store

DAY = NOW.date().isoformat()
KEY = f"digest:{DAY}"


def relay_env(smtpd) -> dict:
    return {"DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(smtpd.port), "DIGEST_SMTP_TLS": "none",
            "DIGEST_SMTP_TIMEOUT": "5"}


def counts(engine) -> dict[str, int]:
    with store.read_session(engine) as session:
        rows = session.exec(select(Delivery.status)).all()
    return {str(s): rows.count(s) for s in set(rows)}


def edition(engine) -> Edition:
    with store.read_session(engine) as session:
        return session.exec(select(Edition).where(Edition.key == KEY)).one()


def set_status(engine, emails_or_ids, status: DeliveryStatus, **values) -> None:
    with store.session_scope(engine) as session:
        session.connection().execute(update(Delivery).where(Delivery.id.in_(emails_or_ids))
                                     .values(status=status, **values))


@pytest.fixture
def started(engine, smtp_settings, smtpd):
    """Five readers, one of them sent: the edition exists and four deliveries are still queued."""
    seed(engine, NOW, subscribers=5)
    send_day(engine, smtp_settings, limit=1)
    assert counts(engine) == {"sent": 1, "queued": 4} and len(smtpd.handler.messages) == 1


def test_a_paused_edition_is_not_sent_by_digest_send_and_resume_lets_it_go(settings, engine, smtpd, started):
    paused = digest(settings, "editions", "pause", "--date", DAY)
    assert paused.exit_code == 0 and f"{KEY} paused" in paused.stdout and "digest editions resume" in paused.stdout
    assert edition(engine).held == "paused"
    status = json.loads(digest(settings, "status", "--json", "--date", DAY).stdout)
    assert status["editions"][0]["status"] == "paused" and status["editions"][0]["held"] == "paused"

    sent = digest(settings, "send", "--date", DAY, env=relay_env(smtpd))
    assert sent.exit_code == 3, sent.output
    (line,) = [x for x in sent.stderr.splitlines() if "is paused" in x]
    assert line.startswith(f"{KEY} is paused") and f"digest editions resume --date {DAY}" in line
    assert counts(engine) == {"sent": 1, "queued": 4} and len(smtpd.handler.messages) == 1

    resumed = digest(settings, "editions", "resume", "--date", DAY)
    assert resumed.exit_code == 0 and f"{KEY} resumed" in resumed.stdout and edition(engine).held is None
    assert digest(settings, "send", "--date", DAY, env=relay_env(smtpd)).exit_code == 0
    assert counts(engine) == {"sent": 5} and len(smtpd.handler.messages) == 5
    assert json.loads(digest(settings, "status", "--json", "--date", DAY).stdout)["editions"][0]["held"] is None


def test_a_sender_stops_between_batches_when_the_edition_is_paused_under_it(settings, engine, smtp_settings, smtpd,
                                                                            started):
    one_by_one = replace(smtp_settings, send=replace(smtp_settings.send, batch_size=1))
    real = smtpd.handler.handle_DATA

    async def pause_after_the_first(server, session, envelope):
        answer = await real(server, session, envelope)
        if len(smtpd.handler.messages) == 2:  # the batch in flight carries on; the next one is not started
            await asyncio.to_thread(ops.pause, settings, KEY, now=NOW, engine=engine)
        return answer

    smtpd.handler.handle_DATA = pause_after_the_first
    (report,) = send_day(engine, one_by_one)
    assert report.held == "paused" and "is paused" in report.stopped and not report.clean
    assert counts(engine) == {"sent": 2, "queued": 3} and len(smtpd.handler.messages) == 2


def test_pause_is_refused_for_a_done_edition_and_an_unknown_date(settings, engine, smtp_settings, smtpd):
    seed(engine, NOW, subscribers=2)
    send_day(engine, smtp_settings)
    done = digest(settings, "editions", "pause", "--date", DAY)
    assert done.exit_code == 1 and done.stderr.strip() == f"error: {KEY} is done: nothing is left to pause"
    assert edition(engine).held is None
    missing = digest(settings, "editions", "pause", "--date", "2020-01-01")
    assert missing.exit_code == 1 and "no edition on 2020-01-01" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    not_paused = digest(settings, "editions", "resume", "--date", DAY)
    assert not_paused.exit_code == 1 and "is not paused (it is done)" in not_paused.stderr


def test_retry_deferred_makes_the_deferred_deliveries_due_now(settings, engine, started):
    with store.read_session(engine) as session:
        ids = session.exec(select(Delivery.id).where(Delivery.status == DeliveryStatus.queued)).all()
    later = datetime.now(timezone.utc) + timedelta(hours=2)  # the CLI's clock is the real one
    set_status(engine, ids[:2], DeliveryStatus.deferred, next_attempt_at=later)
    result = digest(settings, "editions", "retry-deferred", "--date", DAY, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["count"] == 2
    with store.read_session(engine) as session:
        due = session.exec(select(Delivery.next_attempt_at).where(Delivery.status == DeliveryStatus.deferred)).all()
        retries = store.editions.editions_with_due_retries(session, now=later - timedelta(hours=1))
    assert len(due) == 2 and all(d < later for d in due) and [e.key for e in retries] == [KEY]


def test_retry_unknown_requeues_exactly_the_unknown_rows(settings, engine, started):
    with store.read_session(engine) as session:
        ids = session.exec(select(Delivery.id).where(Delivery.status == DeliveryStatus.queued)).all()
    set_status(engine, ids[:2], DeliveryStatus.unknown)
    set_status(engine, ids[2:3], DeliveryStatus.failed)
    result = digest(settings, "editions", "retry-unknown", "--date", DAY)
    assert result.exit_code == 0 and "2 unknown deliveries requeued" in result.stdout and "twice" in result.stdout
    with store.read_session(engine) as session:
        rows = dict(session.exec(select(Delivery.id, Delivery.status)).all())
    assert [rows[i] for i in ids] == ["queued", "queued", "failed", "queued"]
    assert counts(engine) == {"sent": 1, "queued": 3, "failed": 1}


def test_the_workers_tick_enqueues_no_shard_of_a_paused_edition(settings, engine, started, monkeypatch):
    from digest.workers import tick

    enqueued = []

    async def enqueue(app, engine, settings, edition_id, *, now):
        enqueued.append(edition_id)
        return 1

    monkeypatch.setattr(tick, "enqueue_edition", enqueue)
    monkeypatch.setattr(tick, "_editions_with_live_shards", lambda engine: set())
    ops.pause(settings, DAY, now=NOW, engine=engine)
    assert asyncio.run(tick.resume_editions(None, engine, settings, lambda: NOW)) == 0 and enqueued == []
    ops.resume(settings, DAY, now=NOW, engine=engine)
    assert asyncio.run(tick.resume_editions(None, engine, settings, lambda: NOW)) == 1
    assert enqueued == [edition(engine).id]


def test_a_workers_shard_of_a_paused_edition_sends_nothing(settings, engine, started):
    from digest.pipeline import send_shard
    from digest.send import RecordingMailer

    ops.pause(settings, DAY, now=NOW, engine=engine)
    mailer = RecordingMailer()
    report = asyncio.run(send_shard(engine, settings, mailer, edition(engine).id, (0, 10**9), claimed_by="job:7",
                                    clock=lambda: NOW))
    assert report.held == "paused" and mailer.messages == [] and counts(engine) == {"sent": 1, "queued": 4}


def test_the_daemons_next_tick_sends_a_resumed_edition_before_its_deadline(settings, engine, smtp_settings, smtpd,
                                                                          started):
    from digest.schedule import tick_job

    later = NOW + timedelta(hours=1)  # the 07:00 slot is still due: within [send] deadline_hours
    ops.pause(settings, DAY, now=later, engine=engine)
    tick_job(engine, smtp_settings, lambda: later)()
    assert counts(engine) == {"sent": 1, "queued": 4} and len(smtpd.handler.messages) == 1
    ops.resume(settings, DAY, now=later, engine=engine)
    tick_job(engine, smtp_settings, lambda: later)()
    assert counts(engine) == {"sent": 5} and len(smtpd.handler.messages) == 5


def test_an_edition_awaiting_approval_is_shown_so_and_pause_and_resume_leave_it_held(settings, engine, smtpd, started):
    with store.session_scope(engine) as session:
        session.connection().execute(update(Edition).where(Edition.key == KEY).values(held="awaiting_approval"))
    (shown,) = json.loads(digest(settings, "status", "--json", "--date", DAY).stdout)["editions"]
    assert shown["status"] == shown["held"] == "awaiting_approval"
    paused = digest(settings, "editions", "pause", "--date", DAY)
    assert paused.exit_code == 1 and "is awaiting approval: nothing of it is sent until an editor" in paused.stderr
    resumed = digest(settings, "editions", "resume", "--date", DAY)
    assert resumed.exit_code == 1 and "is not paused (it is awaiting approval)" in resumed.stderr
    # the sender stops at a pause only: an edition unapproved after it started goes on (pipeline.plan's rule)
    assert digest(settings, "send", "--date", DAY, env=relay_env(smtpd)).exit_code == 0
    assert edition(engine).held == "awaiting_approval" and counts(engine) == {"sent": 5}
