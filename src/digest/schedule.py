"""`digest run`: an APScheduler 3 daemon; each job is one call into `pipeline`.

The daily job fires at `[schedule] send_at` in `[schedule] timezone` and sends every edition due that day
(daily subscribers, and weekly subscribers whose weekday it is). A start-up after a missed send time within
the grace window catches up at once; delivery rows make a second run of the same edition send nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from datetime import date, datetime, timedelta

from sqlalchemy.engine import Engine

from digest.config import Settings
from digest.errors import DigestError
from digest.pipeline import EditionReport, run_day
from digest.send import SmtpMailer

log = logging.getLogger("digest.schedule")
Clock = Callable[[], datetime]


def daily_trigger(settings: Settings):
    from apscheduler.triggers.cron import CronTrigger

    t = settings.send_time
    return CronTrigger(hour=t.hour, minute=t.minute, timezone=settings.tz)


def catch_up_day(settings: Settings, now: datetime) -> date | None:
    """The day whose send time passed less than the grace period ago (so a short outage still sends)."""
    local = now.astimezone(settings.tz)
    cutoff = datetime.combine(local.date(), settings.send_time, tzinfo=settings.tz)
    grace = timedelta(minutes=settings.schedule.misfire_grace_minutes)
    return local.date() if cutoff <= now < cutoff + grace else None


def edition_job(engine: Engine, settings: Settings, clock: Clock) -> Callable[[], list[EditionReport]]:
    """The job the scheduler runs: today's editions in the configured time zone, sent for real."""
    def job() -> list[EditionReport]:
        day = clock().astimezone(settings.tz).date()

        async def send() -> list[EditionReport]:
            mailer = SmtpMailer(settings.smtp, local_hostname=settings.sender_domain)
            try:
                return await run_day(engine, settings, mailer, day, clock=clock)
            finally:
                await mailer.close()

        try:
            reports = asyncio.run(send())
        except DigestError as exc:
            log.error("edition for %s stopped: %s", day, exc)
            return []
        for report in reports:
            log.info("edition %s: %s", report.key, ", ".join(f"{n} {s}" for s, n in sorted(report.counts.items())))
        return reports

    return job


def run_daemon(engine: Engine, settings: Settings, clock: Clock) -> None:
    """Block until SIGTERM or SIGINT; an edition in progress finishes its batch first."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = BlockingScheduler(timezone=settings.tz)
    job = edition_job(engine, settings, clock)
    grace = settings.schedule.misfire_grace_minutes * 60
    scheduler.add_job(job, daily_trigger(settings), id="daily-edition", misfire_grace_time=grace, coalesce=True,
                      max_instances=1)
    if catch_up_day(settings, clock()):
        scheduler.add_job(job, id="catch-up", next_run_time=clock(), misfire_grace_time=grace)
        log.info("catching up the edition missed at %s", settings.schedule.send_at)

    def stop(signum, _frame):
        log.info("received %s: finishing the current batch, then stopping", signal.Signals(signum).name)
        if not scheduler.running:
            raise SystemExit(0)
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("digest daemon: daily edition at %s %s", settings.schedule.send_at, settings.schedule.timezone)
    scheduler.start()
