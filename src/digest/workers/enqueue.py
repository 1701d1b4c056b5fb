"""Enqueueing shards: one procrastinate job per range of an edition's subscriber ids, and planning then
enqueueing the editions of a day."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy.engine import Engine

from digest import store
from digest.clock import Clock
from digest.config import Settings
from digest.lock import exclusive_async
from digest.store import jobs
from digest.pipeline import plan_day

log = logging.getLogger("digest.workers")

SEND, PERIODIC = "send", "periodic"  # queues: shards; the cluster's periodic work
SHARD_TASK = "digest.send_shard"


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


async def enqueue_edition(app, engine: Engine, settings: Settings, edition_id: int, *, now: datetime) -> int:
    """Shards for the edition's rows that may be sent now and that no live shard job will send: every sendable
    row outside the ranges of the jobs waiting or running, and inside them the deferred rows now due (a running
    job has walked past them). A second job over a live job's queued rows would only race it for them (claims
    keep a row from being sent twice, not a range from being split)."""
    with store.read_session(engine) as session:
        live = jobs.live_ranges(session.connection(), task=SHARD_TASK, edition_id=edition_id)
        ranges = store.deliveries.shard_ranges(session, edition_id=edition_id, size=settings.workers.shard_size,
                                               now=now, covered=live)
    return await enqueue_shards(app, edition_id, ranges)


_TOLD: set[str] = set()  # the held editions this process has said are held (once each)


async def plan_and_enqueue(app, engine: Engine, settings: Settings, day: date, *, clock: Clock,
                           emails: Sequence[str] = (), due_at: datetime | None = None,
                           slot: tuple[str, str] | None = None, periods: Sequence[str] = ("daily", "weekly"),
                           retry_unknown: bool = False, always: bool = True,
                           newsletters: Sequence[str] | None = None) -> list[tuple[str, int, int]]:
    """Plan the editions due on `day` (one planner at a time) and enqueue their shards: (key, planned, shards).

    `always` False (the periodic tick): enqueue only when rows were planned now (the tick's own resume step
    covers the rest); by hand (`digest send`), shards are enqueued for whatever is sendable.
    """
    held: list[str] = []
    done = []
    # one planner at a time, and the lock spans the enqueueing too: the tick's resume step (which takes it as
    # well) never sees rows planned here and not yet given shards, so it never queues a second job for them
    async with exclusive_async(engine, "planner", wait=settings.send.lock_wait_seconds):
        plans = await asyncio.to_thread(  # planning is database work
            plan_day, engine, settings, day, clock=clock, emails=emails, due_at=due_at, slot=slot,
            periods=periods, retry_unknown=retry_unknown, newsletters=newsletters, held=held)
        for plan, edition_id, planned in plans:
            # shards already cover the rows planned before: only new rows (or a first plan) need new ones
            shards = await enqueue_edition(app, engine, settings, edition_id, now=clock()) if planned or always else 0
            done.append((plan.key, planned, shards))
    for key in (k for k in held if k not in _TOLD):
        _TOLD.add(key)
        log.info("edition %s: awaiting an editor's approval; nothing is planned or sent until it is approved "
                 "(the console, or `digest editions approve`)", key)
    return done
