"""The procrastinate app: the shard task, the cluster's periodic tasks, enqueueing, and running a worker."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from digest import store
from digest.clock import Clock
from digest.signals import stop_signals
from digest.workers.bucket import SharedBucket
from digest.config import Settings, cron_every
from digest.errors import ConfigError, SendAborted
from digest.lock import exclusive
from digest.models import EditionStatus
from digest.pipeline import finish_editions, plan_day, send_shard
from digest.pipeline.deliver import expire_edition, log_transition
from digest.ingest.load import poll_job
from digest.pipeline.slots import due_slots
from digest.send import Mailer, SmtpMailer

log = logging.getLogger("digest.workers")
SEND, PERIODIC = "send", "periodic"  # queues: shards; the cluster's periodic work
SHARD_TASK = "digest.send_shard"
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
    from procrastinate import RetryStrategy

    workers = settings.workers

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


# ── enqueueing ──────────────────────────────────────────────────────────────────────────────────────

async def enqueue_shards(app, edition_id: int, ranges: Sequence[tuple[int, int]]) -> int:
    """One shard job per range; a range already waiting in the queue is not queued twice."""
    from procrastinate.exceptions import AlreadyEnqueued

    queued = 0
    for first, last in ranges:
        name = f"shard:{edition_id}:{first}-{last}"
        try:
            await app.configure_task(SHARD_TASK, lock=name, queueing_lock=name).defer_async(
                edition_id=edition_id, first=first, last=last)
            queued += 1
        except AlreadyEnqueued:
            pass
    return queued


async def enqueue_edition(app, engine: Engine, settings: Settings, edition_id: int, *, now: datetime,
                          retries: bool = False) -> int:
    """Shards for every delivery of the edition that may be sent now (`retries`: the due deferred ones only)."""
    with store.read_session(engine) as session:
        ranges = store.shard_ranges(session, edition_id=edition_id, size=settings.workers.shard_size, now=now,
                                    retries_only=retries)
    return await enqueue_shards(app, edition_id, ranges)


async def plan_and_enqueue(app, engine: Engine, settings: Settings, day: date, *, clock: Clock,
                           emails: Sequence[str] = (), due_at: datetime | None = None,
                           slot: tuple[str, str] | None = None, periods: Sequence[str] = ("daily", "weekly"),
                           retry_unknown: bool = False, always: bool = True) -> list[tuple[str, int, int]]:
    """Plan the editions due on `day` (one planner at a time) and enqueue their shards: (key, planned, shards).

    `always` False (the periodic tick): enqueue only when rows were planned now (the tick's own resume step
    covers the rest); by hand (`digest send`), shards are enqueued for whatever is sendable.
    """
    def plan() -> list:  # in a thread: the planner lock may wait, and planning is database work
        with exclusive(engine, "planner", wait=settings.send.lock_wait_seconds):
            return plan_day(engine, settings, day, clock=clock, emails=emails, due_at=due_at, slot=slot,
                            periods=periods, retry_unknown=retry_unknown)

    plans = await asyncio.to_thread(plan)
    done = []
    for plan, edition_id, planned in plans:
        # shards already cover the rows planned before: only new rows (or a first plan) need new ones
        shards = await enqueue_edition(app, engine, settings, edition_id, now=clock()) if planned or always else 0
        done.append((plan.key, planned, shards))
    return done


# ── periodic work ───────────────────────────────────────────────────────────────────────────────────

async def cluster_tick(app, engine: Engine, settings: Settings, clock: Clock) -> int:
    """Plan the send slots that are due and enqueue their shards, then look after every unfinished edition."""
    with store.read_session(engine) as session:
        slots = store.send_slots(session)
    shards = 0
    for slot in due_slots(slots, clock(), lookback=timedelta(hours=settings.send.deadline_hours)):
        for key, planned, n in await plan_and_enqueue(app, engine, settings, slot.day, clock=clock,
                                                      due_at=slot.due_at, slot=(slot.timezone, slot.send_at),
                                                      periods=(slot.period,), always=False):
            shards += n
            if planned or n:
                log.info("edition %s: %d planned, %d shards queued", key, planned, n)
    shards += await resume_editions(app, engine, settings, clock)
    for key in await asyncio.to_thread(finish_editions, engine, clock):
        log.info("edition %s: done", key)
    return shards


async def resume_editions(app, engine: Engine, settings: Settings, clock: Clock) -> int:
    """No row is left `queued` for ever, whatever happened to the job that was to send it.

    For each unfinished edition: past its deadline, what is left expires (a shard checks the deadline only
    while it runs); with shards still live, only the deferred rows now due get shards; with none live, every
    sendable row does (a shard job that failed for good, a scheduler killed between planning and enqueueing,
    a job an operator deleted).
    """
    now = clock()
    with store.read_session(engine) as session:
        editions = [(e.id, e.key, e.deadline_at)
                    for e in store.editions_in_status(session, status=(EditionStatus.planned, EditionStatus.sending))]
    live = await _editions_with_live_shards(app)
    shards = 0
    for edition_id, key, deadline in editions:
        if deadline is not None and now > deadline:
            ids = await asyncio.to_thread(expire_edition, engine, edition_id, key, now)
            if ids:
                log.warning("edition %s: deadline passed, %d deliveries not sent are now expired", key, len(ids))
            continue
        retries = edition_id in live
        n = await enqueue_edition(app, engine, settings, edition_id, now=now, retries=retries)
        if n and not retries:
            log.warning("edition %s: %d shards queued for rows no shard job was going to send", key, n)
        shards += n
    return shards


async def _editions_with_live_shards(app) -> set[int]:
    """Editions that have a shard job waiting or running."""
    rows = await app.connector.execute_query_all_async(
        "SELECT DISTINCT (args->>'edition_id')::bigint AS edition_id FROM procrastinate_jobs "
        "WHERE task_name = %(task)s AND status IN ('todo', 'doing')", task=SHARD_TASK)
    return {row["edition_id"] for row in rows}


async def recover_stalled(app, engine: Engine, settings: Settings, clock: Clock) -> int:
    """Shards of workers that stopped sending heartbeats: their `sending` rows become `unknown` (the message
    may have gone out), and the job is retried so another worker sends what is still queued."""
    stalled = await app.job_manager.get_stalled_jobs(task_name=SHARD_TASK,
                                                     seconds_since_heartbeat=settings.workers.stalled_seconds)
    for job in stalled:
        ids = await asyncio.to_thread(_unknown, engine, f"job:{job.id}", clock, "'s worker died while sending")
        await _retry(app, job)
        log.warning("shard job:%d of a dead worker: %d in flight now unknown, the rest retried", job.id, len(ids))
    await _sweep_orphans(app, engine, clock)
    return len(stalled)


def _unknown(engine: Engine, owner: str, clock: Clock, why: str) -> list[int]:
    with store.session_scope(engine) as session:
        ids = store.recover_interrupted(session, now=clock(), claimed_by=owner)
    for delivery_id in ids:
        log_transition("-", delivery_id, "", "unknown", reason=f"{owner}{why}")
    return ids


async def _sweep_orphans(app, engine: Engine, clock: Clock) -> None:
    """Rows in `sending` whose job is no longer running (it failed on an unexpected error, or was deleted):
    nothing will ever record their outcome, so they become `unknown`. A job is `doing` while it sends."""
    from procrastinate.jobs import Status

    with store.read_session(engine) as session:
        owners = store.sending_owners(session)
    for owner in owners:
        job_id = int(owner.removeprefix("job:")) if owner.startswith("job:") else None
        if job_id is None:
            continue
        jobs = list(await app.job_manager.list_jobs_async(id=job_id))
        if jobs and jobs[0].status == Status.DOING.value:
            continue
        ids = await asyncio.to_thread(_unknown, engine, owner, clock, " ended without recording its batch")
        log.warning("shard %s ended with %d deliveries still sending: now unknown", owner, len(ids))


async def _retry(app, job) -> None:
    """procrastinate's own retry; if the same range is already waiting in the queue, that job will send it."""
    from procrastinate.exceptions import UniqueViolation
    from procrastinate.jobs import Status

    try:
        await app.job_manager.retry_job(job)
    except UniqueViolation:
        await app.job_manager.finish_job_by_id_async(job.id, status=Status.FAILED, delete_job=False)


def queue_status(engine: Engine, settings: Settings) -> dict:
    """Shard jobs per procrastinate status, and the workers whose heartbeat is recent (for `digest status`)."""
    with engine.connect() as conn:
        if conn.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is None:
            return {"shards": {}, "workers_alive": 0}
        shards = dict(conn.execute(text("SELECT status::text, count(*) FROM procrastinate_jobs "
                                        "WHERE task_name = :task GROUP BY status"), {"task": SHARD_TASK}).all())
        alive = conn.execute(text("SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat > "
                                  "now() - make_interval(secs => :s)"), {"s": settings.workers.stalled_seconds}).scalar()
    return {"shards": shards, "workers_alive": alive}


# ── the queue's schema and the worker ───────────────────────────────────────────────────────────────

async def ensure_queue_schema(app, engine: Engine) -> bool:
    """Apply procrastinate's schema to the store's database if it is not there yet (True if applied)."""
    with exclusive(engine, "queue-schema", wait=60):
        with engine.connect() as conn:
            if conn.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is not None:
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


__all__ = ["Runtime", "queue_status", "build_app", "enqueue_edition", "ensure_queue_schema", "plan_and_enqueue",
           "recover_stalled", "resume_editions", "run_worker"]
