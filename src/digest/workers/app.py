"""The procrastinate app: its tasks (the shard, the cluster's periodic work), the queue's schema and status,
and running a worker. Enqueueing is `workers.enqueue`, the tick `workers.tick`, dead workers `workers.recovery`."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine, make_url

from digest.clock import Clock
from digest.config import Settings, cron_every
from digest.errors import ConfigError, SendAborted
from digest.lock import exclusive
from digest.pipeline import send_shard
from digest.ingest.load import poll_job
from digest.send import Mailer, SmtpMailer
from digest.signals import stop_signals
from digest.store import jobs
from digest.webhooks import deliver_due
from digest.workers.bucket import SharedBucket
from digest.workers.enqueue import PERIODIC, SEND, SHARD_TASK, enqueue_shards
from digest.workers.recovery import recover_stalled
from digest.workers.tick import cluster_tick

log = logging.getLogger("digest.workers")
SHARD_RETRIES = 3  # an unexpected error: retried after 5, 25, 125 s, then failed (the tick re-queues its rows)


@dataclass
class Runtime:
    """What a worker process's tasks share: one engine, one SMTP pool, one stop signal."""

    engine: Engine
    settings: Settings
    mailer: Mailer
    clock: Clock
    stop: threading.Event
    composers: dict = field(default_factory=dict)  # edition id → its Composer (variants rendered once)


def conninfo(settings: Settings) -> str:
    url = make_url(settings.store.url)
    if url.get_backend_name() != "postgresql":
        raise ConfigError("[workers] engine = \"procrastinate\" needs a PostgreSQL store ([store] url)")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def build_app(settings: Settings):
    """The procrastinate App for this store, with digest's tasks registered."""
    from procrastinate import App, PsycopgConnector

    app = App(connector=PsycopgConnector(conninfo=conninfo(settings), min_size=1, max_size=4),
              periodic_defaults={"max_delay": 600})
    _register(app, settings)
    return app


def _register(app, settings: Settings) -> None:
    _register_shard(app)
    _register_periodic(app, settings)


def _register_shard(app) -> None:
    from procrastinate import RetryStrategy

    # a shard that fails on something unexpected (the store restarting, a bug) is retried by procrastinate with
    # the same job id: its rows left `sending` become `unknown` first, so a retry never sends twice
    @app.task(name=SHARD_TASK, queue=SEND, pass_context=True,
              retry=RetryStrategy(max_attempts=SHARD_RETRIES, exponential_wait=5))
    async def send_shard_task(context, edition_id: int, first: int, last: int) -> dict:
        rt: Runtime = context.additional_context["runtime"]
        if isinstance(rt.mailer, SmtpMailer):
            rt.mailer.retry_after_failure()
        try:
            report = await send_shard(rt.engine, rt.settings, rt.mailer, edition_id, (first, last),
                                      claimed_by=f"job:{context.job.id}", clock=rt.clock, stop=rt.stop,
                                      composers=rt.composers)
        except SendAborted as exc:  # the relay refuses us (AUTH, policy): the rest of the range stays queued
            log.error("shard %d-%d of edition %d stopped: %s; after fixing the relay, `digest send` re-queues it",
                      first, last, edition_id, exc)
            return {"attempted": 0, "stopped": str(exc)}
        if report.interrupted:  # the worker is stopping: what is left goes to another worker
            await enqueue_shards(context.app, edition_id, [(first, last)])
        log.info("shard %s %d-%d: %d attempted, %s", report.key, first, last, report.attempted,
                 ", ".join(f"{n} {s}" for s, n in sorted(report.counts.items())))
        return {"attempted": report.attempted, "stopped": report.stopped}

def _register_periodic(app, settings: Settings) -> None:
    workers = settings.workers

    # periodic: deferred once per cron tick across the cluster; `lock` also keeps two runs from overlapping
    @app.periodic(cron=cron_every(settings.schedule.tick_minutes), periodic_id="tick")
    @app.task(name="digest.tick", queue=PERIODIC, lock="digest.tick", queueing_lock="digest.tick", pass_context=True)
    async def tick(context, timestamp: int) -> int:
        rt: Runtime = context.additional_context["runtime"]
        return await cluster_tick(context.app, rt.engine, rt.settings, rt.clock)

    @app.periodic(cron=cron_every(settings.feeds.poll_minutes), periodic_id="poll-feeds")
    @app.task(name="digest.poll_feeds", queue=PERIODIC, lock="digest.poll_feeds", queueing_lock="digest.poll_feeds",
              pass_context=True)
    async def poll_feeds(context, timestamp: int) -> None:
        rt: Runtime = context.additional_context["runtime"]
        await asyncio.to_thread(poll_job(rt.engine, rt.settings, rt.clock))

    @app.periodic(cron=f"* * * * * */{workers.recover_seconds}", periodic_id="recover")
    @app.task(name="digest.recover", queue=PERIODIC, lock="digest.recover", queueing_lock="digest.recover",
              pass_context=True)
    async def recover(context, timestamp: int) -> int:
        rt: Runtime = context.additional_context["runtime"]
        return await recover_stalled(context.app, rt.engine, rt.settings, rt.clock)

    @app.periodic(cron="* * * * *", periodic_id="webhooks")  # one delivery pass of the outbox a minute
    @app.task(name="digest.webhooks", queue=PERIODIC, lock="digest.webhooks", queueing_lock="digest.webhooks",
              pass_context=True)
    async def webhooks(context, timestamp: int) -> int:
        rt: Runtime = context.additional_context["runtime"]
        return (await deliver_due(rt.engine, rt.settings, now=rt.clock())).delivered


def queue_status(engine: Engine, settings: Settings) -> dict:
    """Shard jobs per procrastinate status, and the workers whose heartbeat is recent (for `digest status`)."""
    with engine.connect() as conn:
        if not jobs.queue_installed(conn):
            return {"shards": {}, "workers_alive": 0}
        return {"shards": jobs.job_counts(conn, task=SHARD_TASK),
                "workers_alive": jobs.workers_alive(conn, within_seconds=settings.workers.stalled_seconds)}


# ── the queue's schema and the worker ───────────────────────────────────────────────────────────────

async def ensure_queue_schema(app, engine: Engine) -> bool:
    """Apply procrastinate's schema to the store's database if it is not there yet (True if applied)."""
    with exclusive(engine, "queue-schema", wait=60):
        with engine.connect() as conn:
            if jobs.queue_installed(conn):
                return False
        await app.schema_manager.apply_schema_async()
        return True


async def run_worker(engine: Engine, settings: Settings, clock: Clock, *, concurrency: int,
                     queues: Sequence[str] = (SEND, PERIODIC), name: str | None = None) -> None:
    """Send shards (and run the cluster's periodic work) until SIGTERM or SIGINT.

    On a signal the shards in flight finish their batch, re-queue what is left, and the worker exits.
    """
    from procrastinate.worker import Worker

    app = build_app(settings)
    stop = threading.Event()
    bucket = SharedBucket(engine, settings.smtp.rate_per_second)
    mailer = SmtpMailer(settings.smtp, local_hostname=settings.sender_domain, bucket=bucket)
    runtime = Runtime(engine, settings, mailer, clock, stop)
    async with app.open_async():
        await ensure_queue_schema(app, engine)
        worker = Worker(app, queues=list(queues), name=name, concurrency=concurrency, install_signal_handlers=False,
                        additional_context={"runtime": runtime}, delete_jobs="successful",
                        update_heartbeat_interval=settings.workers.heartbeat_seconds,
                        stalled_worker_timeout=settings.workers.stalled_seconds)

        def on_stop(name: str) -> None:
            log.info("received %s: finishing the batches in flight, then stopping", name)
            worker.stop()

        log.info("digest worker: queues %s, concurrency %d", ",".join(queues), concurrency)
        try:
            with stop_signals(on_stop, stop=stop, loop=asyncio.get_running_loop()):
                await worker.run()
        finally:
            await mailer.close()


__all__ = ["Runtime", "build_app", "ensure_queue_schema", "queue_status", "run_worker"]
