"""The daemon: send slots per subscriber time zone (across DST), catch-up, the tick job, locks, SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from digest import store
from digest.config import Settings
from digest.errors import StoreError
from digest.lock import exclusive
from digest.schedule import due_slots, tick_job
from tests.conftest import NOW, ROOT
from tests.factories import seed, subscriber

pytestmark = pytest.mark.store

LONDON = ZoneInfo("Europe/London")
SIX_HOURS = timedelta(hours=6)


def utc(*args):
    return datetime(*args, tzinfo=timezone.utc)


def _keyed(slots):
    """The send slots of the one newsletter of an install without [[newsletters]]."""
    return [("digest", *slot) for slot in slots]


def test_slot_is_due_at_local_send_time_on_the_local_date():
    slots = [("daily", None, "Asia/Seoul", "07:00"), ("daily", None, "America/New_York", "07:00")]
    due = due_slots(_keyed(slots), utc(2026, 11, 26, 22, 30), lookback=SIX_HOURS, settings=Settings())  # 07:30 in Seoul on the 27th
    assert [(s.timezone, s.day.isoformat(), s.due_at) for s in due] == [
        ("Asia/Seoul", "2026-11-27", datetime(2026, 11, 27, 7, 0, tzinfo=ZoneInfo("Asia/Seoul")))]
    later = due_slots(_keyed(slots), utc(2026, 11, 27, 12, 5), lookback=SIX_HOURS, settings=Settings())  # 07:05 in New York
    assert [(s.timezone, s.day.isoformat()) for s in later] == [("America/New_York", "2026-11-27")]


def test_weekly_slot_only_on_its_weekday():
    slots = [("weekly", "fri", "UTC", "07:00"), ("weekly", "sat", "UTC", "07:00")]
    due = due_slots(_keyed(slots), utc(2026, 11, 27, 7, 1), lookback=SIX_HOURS, settings=Settings())  # a Friday
    assert [(s.period, s.day.isoformat()) for s in due] == [("weekly", "2026-11-27")]


def test_catch_up_within_the_deadline_only():
    slots = [("daily", None, "UTC", "07:00")]
    assert due_slots(_keyed(slots), utc(2026, 11, 27, 6, 59), lookback=SIX_HOURS, settings=Settings()) == []
    assert len(due_slots(_keyed(slots), utc(2026, 11, 27, 12, 59), lookback=SIX_HOURS, settings=Settings())) == 1  # after downtime
    assert due_slots(_keyed(slots), utc(2026, 11, 27, 13, 1), lookback=SIX_HOURS, settings=Settings()) == []  # too late: deadline passed


@pytest.mark.parametrize("send_at, day", [("01:30", 29), ("01:30", 25), ("02:30", 29), ("07:00", 25)])
def test_dst_neither_skips_nor_doubles(send_at, day):
    """Scanning every 5 minutes across the March (29th) and October (25th) 2026 changes in London."""
    month = 3 if day == 29 else 10
    slots = [("daily", None, "Europe/London", send_at)]
    seen = []
    now = utc(2026, month, day - 1, 12, 0)
    while now < utc(2026, month, day + 1, 12, 0):
        seen += [s for s in due_slots(_keyed(slots), now, lookback=timedelta(minutes=5), settings=Settings())]
        now += timedelta(minutes=5)
    assert [s.day.day for s in seen] == [day, day + 1]  # each local day exactly once, in order
    assert all(s.due_at.astimezone(LONDON).date() == s.day for s in seen)


def test_tick_sends_each_slot_once_and_is_idempotent(engine, smtp_settings, smtpd):
    seed(engine, NOW, subscribers=2)  # UTC 07:00 subscribers
    with store.session_scope(engine) as session:
        store.subscribers.upsert_subscribers(session, subscribers=[
            subscriber("seoul@example.com", timezone="Asia/Seoul", send_at="07:00")], now=NOW)
    at_seoul = utc(2026, 11, 26, 22, 5)
    tick_job(engine, smtp_settings, clock=lambda: at_seoul)()
    assert [m.rcpt_tos for m in smtpd.handler.messages] == [["seoul@example.com"]]
    job = tick_job(engine, smtp_settings, clock=lambda: NOW + timedelta(minutes=5))
    job()
    job()
    assert sorted(r for m in smtpd.handler.messages for r in m.rcpt_tos) == [
        "reader1@example.com", "reader2@example.com", "seoul@example.com"]


def test_tick_sends_the_confirmations_a_stopped_web_app_left_queued(engine, smtp_settings, smtpd):
    with store.session_scope(engine) as session:
        store.subscribers.upsert_subscribers(session, subscribers=[subscriber("new@example.org", status="pending")], now=NOW)
        sub = store.subscribers.find_subscriber(session, email="new@example.org")
        store.confirmations.queue_confirmation(session, subscriber_id=sub.id, email=sub.email, now=NOW, window=SIX_HOURS)
    job = tick_job(engine, smtp_settings, clock=lambda: NOW + timedelta(minutes=1))
    job()
    job()  # sent once: the row is `sent` now
    assert [m.rcpt_tos for m in smtpd.handler.messages] == [["new@example.org"]]
    with store.read_session(engine) as session:
        assert store.confirmations.confirmation_counts(session) == {"sent": 1}


def test_deadline_expires_what_is_left(engine, smtp_settings, smtpd):
    import asyncio

    from digest.pipeline import run_day
    from digest.send import SmtpMailer

    seed(engine, NOW, subscribers=3)
    # planned in this process: a planning child's wait for its pages would read the counted clock too
    settings = replace(smtp_settings, send=replace(smtp_settings.send, batch_size=1, plan_process="off"))
    times = iter([NOW] * 8 + [NOW + timedelta(hours=7)] * 50)

    async def go():
        mailer = SmtpMailer(settings.smtp, local_hostname="x.example.com")
        try:
            return await run_day(engine, settings, mailer, NOW.date(), clock=lambda: next(times), due_at=NOW)
        finally:
            await mailer.close()

    [report] = asyncio.run(go())
    assert report.counts.get("expired", 0) >= 1 and report.counts.get("sent", 0) >= 1
    assert report.counts["expired"] + report.counts["sent"] == 3
    assert len(smtpd.handler.messages) == report.counts["sent"]


def test_second_holder_of_a_lock_is_refused(engine, backend):
    holder = r" \(pid \d+\)" if backend == "sqlite" else ""  # a lock file can say who holds it
    with exclusive(engine, "daemon"):
        with pytest.raises(StoreError, match=rf"another digest process{holder} holds the daemon lock"):
            with exclusive(engine, "daemon", wait=0.3):
                pass
    with exclusive(engine, "daemon"):  # released
        pass


def _daemon(store_url, **extra):
    env = {**os.environ, "DIGEST_STORE_URL": store_url, "DIGEST_SECRET_KEY": "k" * 32,
           "DIGEST_SMTP_TLS": "none", "DIGEST_SCHEDULE_TIMEZONE": "UTC", **extra}
    return subprocess.Popen([sys.executable, "-m", "digest", "run"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _wait_for(proc, needle, seconds=20):
    output, deadline = "", time.monotonic() + seconds
    while needle not in output and time.monotonic() < deadline and proc.poll() is None:
        output += proc.stdout.readline()
    return output


def test_daemon_is_alone_and_stops_cleanly_on_sigterm(store_url):
    first = _daemon(store_url)
    try:
        output = _wait_for(first, "digest daemon")
        assert "checking send times every 5 min" in output
        second = _daemon(store_url)
        out2, _ = second.communicate(timeout=20)
        assert second.returncode == 1 and "holds the daemon lock" in out2 and "Traceback" not in out2
        first.send_signal(signal.SIGTERM)
        rest, _ = first.communicate(timeout=20)
    finally:
        first.kill()
    assert first.returncode == 0
    assert "received SIGTERM" in rest and "Traceback" not in output + rest
