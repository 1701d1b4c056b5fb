"""The cluster's periodic tick: plan the send slots that are due, enqueue their shards, and look after every
unfinished edition (expire it past its deadline, re-queue rows no live shard will send, mark it done)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy.engine import Engine

from digest import store
from digest.clock import Clock
from digest.lock import LockBusy, exclusive_async
from digest.config import Settings
from digest.models import EditionStatus
from digest.pipeline import finish_editions
from digest.pipeline.transitions import expire_edition
from digest.pipeline.slots import due_slots
from digest.store import jobs
from digest.workers.enqueue import SHARD_TASK, enqueue_edition, plan_and_enqueue

log = logging.getLogger("digest.workers")


async def cluster_tick(app, engine: Engine, settings: Settings, clock: Clock) -> int:
    """Plan the send slots that are due and enqueue their shards, then look after every unfinished edition."""
    with store.read_session(engine) as session:
        slots = store.subscriptions.send_slots(session)
    shards = 0
    for slot in due_slots(slots, clock(), lookback=timedelta(hours=settings.send.deadline_hours), settings=settings):
        for key, planned, n in await plan_and_enqueue(app, engine, settings, slot.day, clock=clock,
                                                      due_at=slot.due_at, slot=(slot.timezone, slot.send_at),
                                                      periods=(slot.period,), always=False,
                                                      newsletters=(slot.newsletter,)):
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
    while it runs); every sendable row no live shard job will send gets one (`enqueue_edition`: the rows outside
    the live jobs' ranges, and the deferred rows now due inside them): a shard job that failed for good, a
    scheduler killed between planning and enqueueing, a job an operator deleted, an edition an operator paused
    and then resumed. A held edition (paused,
    awaiting approval) gets no shards: its shards stopped at the hold, and its rows wait queued. While a
    planner holds its lock (planning, then enqueueing what it planned) this step waits for the next tick.
    """
    try:
        async with exclusive_async(engine, "planner", wait=0):
            return await _resume(app, engine, settings, clock)
    except LockBusy:  # someone is planning: the rows it plans get their shards from it; next tick looks again
        return 0


async def _resume(app, engine: Engine, settings: Settings, clock: Clock) -> int:
    now = clock()
    with store.read_session(engine) as session:
        editions = [(e.id, e.key, e.deadline_at, e.held)
                    for e in store.editions.editions_in_status(session, status=(EditionStatus.planned, EditionStatus.sending))]
    live = await asyncio.to_thread(_editions_with_live_shards, engine)
    shards = 0
    for edition_id, key, deadline, held in editions:
        if deadline is not None and now > deadline:
            ids = await asyncio.to_thread(expire_edition, engine, edition_id, key, now)
            if ids:
                log.warning("edition %s: deadline passed, %d deliveries not sent are now expired", key, len(ids))
            continue
        if held is not None:
            continue
        n = await enqueue_edition(app, engine, settings, edition_id, now=now)
        if n and edition_id not in live:
            log.warning("edition %s: %d shards queued for rows no shard job was going to send", key, n)
        shards += n
    return shards


def _editions_with_live_shards(engine: Engine) -> set[int]:
    """Editions that have a shard job waiting or running."""
    with engine.connect() as conn:
        return jobs.editions_with_live_jobs(conn, task=SHARD_TASK)
