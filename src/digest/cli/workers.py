"""Workers: `digest worker`, and `send`/`run` when `[workers] engine = "procrastinate"` (see docs/workers.md)."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Optional

import typer

from digest.cli.base import app, configure_logging, engine_for, now_utc

QUEUES = ("send", "periodic")


def require_workers(settings) -> None:
    from digest.errors import ConfigError

    if settings.workers.engine != "procrastinate":
        raise ConfigError(f"{settings.source}: [workers] engine: workers need \"procrastinate\" (and a PostgreSQL "
                          f"store), got {settings.workers.engine!r}")


@app.command()
def worker(ctx: typer.Context,
           concurrency: Annotated[Optional[int], typer.Option("--concurrency", "-n", min=1, help="Shards sent at once (default [workers] concurrency).")] = None,
           queue: Annotated[Optional[list[str]], typer.Option("--queue", "-q", help="Only these queues: send (shards), periodic (the cluster's scheduled work). Default: both.")] = None,
           name: Annotated[Optional[str], typer.Option("--name", help="Worker name in procrastinate's tables and the logs.")] = None):
    """A worker: sends edition shards, and takes its turn at the cluster's periodic work. Stop with SIGTERM."""
    from digest.workers import run_worker
    from digest.errors import ConfigError, InputError

    settings = ctx.obj.settings
    require_workers(settings)
    if not settings.secret_key:
        raise ConfigError("DIGEST_SECRET_KEY is not set: it signs the unsubscribe and preference links")
    queues = tuple(queue or QUEUES)
    if unknown := set(queues) - set(QUEUES):
        raise InputError(f"--queue: unknown queue {sorted(unknown)[0]!r} (send or periodic)")
    configure_logging(settings)
    asyncio.run(run_worker(engine_for(settings), settings, now_utc, queues=queues, name=name,
                           concurrency=concurrency or settings.workers.concurrency))


def enqueue_day(settings, day: date, emails, *, retry_unknown: bool) -> None:
    """`digest send` with workers: plan the day's editions and queue their shards; the workers send them."""
    from digest.workers import build_app, ensure_queue_schema, plan_and_enqueue

    engine = engine_for(settings)

    async def go():
        queue = build_app(settings)
        async with queue.open_async():
            await ensure_queue_schema(queue, engine)
            return await plan_and_enqueue(queue, engine, settings, day, clock=now_utc, emails=emails,
                                          retry_unknown=retry_unknown)

    done = asyncio.run(go())
    if not done:
        typer.echo(f"no edition due on {day}: no active subscriber is due")
    for key, planned, shards in done:
        typer.echo(f"{key}: {planned} planned now, {shards} shards queued for the workers "
                   "(`digest status` shows progress)")


def apply_queue_schema(settings) -> bool:
    from digest.workers import build_app, ensure_queue_schema

    async def go():
        queue = build_app(settings)
        async with queue.open_async():
            return await ensure_queue_schema(queue, engine_for(settings))

    return asyncio.run(go())
