"""Recovering from dead workers: shards whose worker stopped sending heartbeats, and rows left `sending` by a
job that is no longer running, become `unknown` (the message may have gone out; never resent by itself)."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.engine import Engine

from digest import store
from digest.clock import Clock
from digest.config import Settings
from digest.pipeline.transitions import mark_unknown
from digest.workers.enqueue import SHARD_TASK

log = logging.getLogger("digest.workers")


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
    return mark_unknown(engine, clock, claimed_by=owner, reason=f"{owner}{why}")


async def _sweep_orphans(app, engine: Engine, clock: Clock) -> None:
    """Rows in `sending` whose job is no longer running (it failed on an unexpected error, or was deleted):
    nothing will ever record their outcome, so they become `unknown`. A job is `doing` while it sends."""
    from procrastinate.jobs import Status

    with store.read_session(engine) as session:
        owners = store.delivery_status.sending_owners(session)
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
