"""`digest run`: an APScheduler 3 daemon, or with workers the cluster's scheduler (`operations.backends` says
which). The daemon's jobs: the tick (the send path, `pipeline.run_day` and `retry_due`, then the sign-up
confirmations), feed polling (`ingest.load.poll_job`) and, every `[bounces] poll_minutes`, the bounce mailbox
(`operations.mailbox.poll_job`).

Every `[schedule] tick_minutes` the daemon finds the send slots (time zone, local send time) whose time
has come, on each subscriber's own local date, and sends those subscribers their edition; it also retries
deferred deliveries that are due. The first tick runs at start-up, so editions missed during downtime are
caught up while still before their deadline. Delivery rows make repeated ticks harmless: nobody is sent
an edition twice. One daemon per store (a lock the OS releases if the process dies); SIGTERM lets the
batch in flight finish and be recorded, then exits.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.engine import Engine

from digest import store
from digest.clock import Clock
from digest.signals import stop_signals
from digest.config import Settings
from digest.errors import DigestError
from digest.ingest.load import poll_job
from digest.lock import exclusive
from digest.operations.backends import backend_for
from digest.operations.common import require_secret, smtp_mailer
from digest.operations.mailbox import poll_job as bounce_poll_job
from digest.pipeline import EditionReport, retry_due, run_day
from digest.operations.signup import send_confirmations
from digest.operations.webhooks import webhooks_job
from digest.pipeline.slots import Slot, due_slots

__all__ = ["Slot", "due_slots", "run_daemon", "serve", "tick_job"]

log = logging.getLogger("digest.schedule")


def tick_job(engine: Engine, settings: Settings, clock: Clock, stop: threading.Event | None = None
             ) -> Callable[[], list[EditionReport]]:
    """The job the scheduler runs: send every slot that is due, then the retries that are due, then the sign-up
    confirmations left queued (the web app sends its own at once; this covers an app that stopped first).
    An edition awaiting an editor's approval is said once, on the first tick that finds it held."""
    told: set[str] = set()

    def job() -> list[EditionReport]:
        try:
            return asyncio.run(_tick(engine, settings, clock, stop, told))
        except DigestError as exc:
            log.error("tick stopped: %s", exc)
            return []
        except Exception as exc:  # a bug or the store gone: one line, and the next tick tries again
            log.error("tick stopped: %s: %s", type(exc).__name__, " ".join(str(exc).split()))
            return []

    return job


async def _tick(engine: Engine, settings: Settings, clock: Clock, stop: threading.Event | None,
                told: set[str] | None = None) -> list[EditionReport]:
    with store.read_session(engine) as session:
        slots = store.subscriptions.send_slots(session)
    lookback = timedelta(hours=settings.send.deadline_hours)
    mailer = smtp_mailer(settings)
    reports: list[EditionReport] = []
    try:
        for slot in due_slots(slots, clock(), lookback=lookback, settings=settings):
            if stop is not None and stop.is_set():
                break
            reports += await run_day(engine, settings, mailer, slot.day, clock=clock, due_at=slot.due_at,
                                     slot=(slot.timezone, slot.send_at), periods=(slot.period,), stop=stop,
                                     newsletters=(slot.newsletter,))
        reports += await retry_due(engine, settings, mailer, clock=clock, stop=stop)
        confirmations = await send_confirmations(engine, settings, mailer, clock=clock)
    finally:
        await mailer.close()
    told = set() if told is None else told
    for report in reports:
        if report.held and report.key not in told:
            told.add(report.key)
            log.info("edition %s: awaiting an editor's approval; nothing is planned or sent until it is approved "
                     "(the console, or `digest editions approve`)", report.key)
        if report.attempted or report.planned or report.expired:
            log.info("edition %s: %s", report.key, ", ".join(f"{n} {s}" for s, n in sorted(report.counts.items())))
    if confirmations:
        log.info("confirmations: %s", ", ".join(f"{n} {s}" for s, n in sorted(confirmations.items())))
    return reports


def serve(settings: Settings, clock: Clock) -> None:
    """`digest run`: the token key is needed; then the backend runs this daemon, or the workers' scheduler."""
    require_secret(settings)
    backend_for(settings).run_daemon(clock, embedded=run_daemon)


def run_daemon(engine: Engine, settings: Settings, clock: Clock) -> None:
    """Block until SIGTERM or SIGINT. Only one daemon per store: a second one exits with a clear error."""
    with exclusive(engine, "daemon", wait=0):
        _serve(engine, settings, clock)


def _serve(engine: Engine, settings: Settings, clock: Clock) -> None:
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.interval import IntervalTrigger

    stop = threading.Event()
    scheduler = BlockingScheduler(timezone=settings.tz)
    every = settings.schedule.tick_minutes
    scheduler.add_job(tick_job(engine, settings, clock, stop), IntervalTrigger(minutes=every), id="tick",
                      next_run_time=clock(), misfire_grace_time=settings.schedule.misfire_grace_minutes * 60,
                      coalesce=True, max_instances=1)
    scheduler.add_job(poll_job(engine, settings, clock), IntervalTrigger(minutes=settings.feeds.poll_minutes),
                      id="poll-feeds", next_run_time=clock(), coalesce=True, max_instances=1)
    scheduler.add_job(webhooks_job(engine, settings, clock), IntervalTrigger(seconds=settings.webhooks.interval_seconds),
                      id="webhooks", next_run_time=clock(), coalesce=True, max_instances=1)
    if settings.bounces.poll_minutes:  # the bounce mailbox over IMAP (operations.mailbox)
        scheduler.add_job(bounce_poll_job(engine, settings, clock), IntervalTrigger(minutes=settings.bounces.poll_minutes),
                          id="poll-bounces", next_run_time=clock(), coalesce=True, max_instances=1)

    def on_stop(name: str) -> None:
        log.info("received %s: finishing the batch in flight, then stopping", name)
        if not scheduler.running:
            raise SystemExit(0)
        scheduler.shutdown(wait=True)

    log.info("digest daemon: checking send times every %d min (default send time %s %s)", every,
             settings.schedule.send_at, settings.schedule.timezone)
    with stop_signals(on_stop, stop=stop):
        scheduler.start()
