"""The daemon: trigger times in the configured zone (across DST), catch-up, the job, and SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from digest.schedule import catch_up_day, daily_trigger, edition_job
from tests.conftest import NOW, ROOT
from tests.factories import seed

LONDON = ZoneInfo("Europe/London")


def london(settings):
    return replace(settings, schedule=replace(settings.schedule, timezone="Europe/London", send_at="07:00"))


def test_trigger_fires_at_local_send_time_across_dst(settings):
    trigger = daily_trigger(london(settings))
    before_dst_end = datetime(2026, 10, 23, 12, 0, tzinfo=LONDON)  # clocks go back on Sunday 25 October
    first = trigger.get_next_fire_time(None, before_dst_end)
    second = trigger.get_next_fire_time(first, first.replace(hour=8))
    assert (first.hour, first.utcoffset().total_seconds()) == (7, 3600)  # BST
    assert (second.day, second.hour, second.utcoffset().total_seconds()) == (25, 7, 0)  # GMT, no double, no skip
    assert second.astimezone(timezone.utc).hour == 7 and first.astimezone(timezone.utc).hour == 6


def test_catch_up_only_within_grace(settings):
    s = london(settings)
    assert catch_up_day(s, datetime(2026, 11, 27, 6, 59, tzinfo=LONDON)) is None  # not yet due
    assert catch_up_day(s, datetime(2026, 11, 27, 8, 30, tzinfo=LONDON)).isoformat() == "2026-11-27"
    assert catch_up_day(s, datetime(2026, 11, 27, 9, 1, tzinfo=LONDON)) is None  # grace (120 min) is over


def test_job_sends_today_once(engine, smtp_settings, smtpd):
    seed(engine, NOW, subscribers=3)
    job = edition_job(engine, smtp_settings, clock=lambda: NOW)
    first = job()
    second = job()
    assert first[0].counts == {"sent": 3} and second[0].attempted == 0
    assert len(smtpd.handler.messages) == 3


def test_daemon_stops_cleanly_on_sigterm(tmp_path):
    env = {**os.environ, "DIGEST_STORE_URL": f"sqlite:///{tmp_path / 'd.db'}", "DIGEST_SECRET_KEY": "k",
           "DIGEST_SMTP_TLS": "none", "DIGEST_SCHEDULE_TIMEZONE": "UTC"}
    proc = subprocess.Popen([sys.executable, "-m", "digest", "run"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        output = ""
        while "digest daemon" not in output and time.monotonic() < deadline:
            output += proc.stdout.readline()
        assert "daily edition at 07:00 UTC" in output
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert "received SIGTERM" in rest and "Traceback" not in output + rest
