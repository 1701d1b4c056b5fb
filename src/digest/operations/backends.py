"""The one module that reads `[workers] engine`: embedded (this process sends) or procrastinate workers.

`backend_for(settings)` returns an `Embedded` or a `Workers`, with the same methods: check a send's options,
send a day, run the daemon, the queue's status, what `digest db upgrade` adds, the `digest worker` check.
Nothing else asks which engine is configured (config validation aside). See docs/workers.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.engine import Engine

from digest.clock import Clock
from digest.config import Settings
from digest.errors import ConfigError, InputError
from digest.operations.common import engine_for, require_secret, smtp_mailer
from digest.pipeline import EditionReport, Progress, run_day
from digest.send import Mailer
from digest.signals import stop_signals

QUEUES = ("send", "periodic")


@dataclass(frozen=True)
class QueuedEdition:
    """With workers, `digest send` plans an edition and queues its shards: how many of each."""

    key: str
    planned: int
    shards: int


@dataclass
class DaySend:
    """What `digest send` did: the editions sent here, or (with workers) the editions queued."""

    day: date
    reports: list[EditionReport] = field(default_factory=list)
    queued: list[QueuedEdition] | None = None
    stopped_by_signal: bool = False

    @property
    def clean(self) -> bool:
        return all(r.clean for r in self.reports)


@dataclass(frozen=True)
class SendOptions:
    emails: Sequence[str] = ()
    newsletters: Sequence[str] = ()  # keys; empty: every newsletter with an edition that day
    limit: int | None = None
    retry_deferred: bool = False
    retry_unknown: bool = False
    progress: Progress | None = None
    on_signal: Callable[[str], None] = lambda name: None
    mailer_factory: Callable[[Settings], Mailer] = smtp_mailer


class Embedded:
    """`[workers] engine = "embedded"`: this process sends; `digest run` is the APScheduler daemon."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def check_send(self, options: SendOptions) -> None:
        """Every option of `digest send` works here."""

    def send_day(self, engine: Engine, day: date, options: SendOptions, *, clock: Clock) -> DaySend:
        """Send the day's editions now; SIGTERM or Ctrl-C finish the batch in flight, then stop."""
        settings = self.settings

        async def go(stop) -> list[EditionReport]:
            mailer = options.mailer_factory(settings)
            try:
                return await run_day(engine, settings, mailer, day, clock=clock, emails=options.emails,
                                     limit=options.limit, retry_deferred=options.retry_deferred,
                                     retry_unknown=options.retry_unknown, progress=options.progress, stop=stop,
                                     newsletters=options.newsletters or None)
            finally:
                await mailer.close()

        with stop_signals(options.on_signal) as stop:
            reports = asyncio.run(go(stop))
        return DaySend(day, reports, stopped_by_signal=stop.is_set())

    def run_daemon(self, clock: Clock, *, embedded: Callable[[Engine, Settings, Clock], None]) -> None:
        """`digest run`: the daemon of `digest.schedule` (handed in: it sits above this layer)."""
        embedded(engine_for(self.settings), self.settings, clock)

    def queue_status(self, engine: Engine) -> dict | None:
        return None

    def upgrade(self, engine: Engine) -> bool | None:
        """Nothing beyond the store's own migrations."""
        return None

    def check_worker(self) -> None:
        raise ConfigError(f"{self.settings.source}: [workers] engine: workers need \"procrastinate\" (and a "
                          f"PostgreSQL store), got {self.settings.workers.engine!r}")


class Workers:
    """`[workers] engine = "procrastinate"`: `digest worker`s send shards; `digest run` is the cluster's
    scheduler (a worker on the periodic queue)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def check_send(self, options: SendOptions) -> None:
        if options.limit is not None or options.retry_deferred:
            raise ConfigError("--limit and --retry-deferred send in this process: with [workers] engine = "
                              "\"procrastinate\" the workers send (drop the option)")

    def send_day(self, engine: Engine, day: date, options: SendOptions, *, clock: Clock) -> DaySend:
        """Plan the day's editions and queue their shards; the workers send them."""
        from digest.workers import build_app, ensure_queue_schema, plan_and_enqueue

        async def go():
            queue = build_app(self.settings)
            async with queue.open_async():
                await ensure_queue_schema(queue, engine)
                return await plan_and_enqueue(queue, engine, self.settings, day, clock=clock, emails=options.emails,
                                              retry_unknown=options.retry_unknown,
                                              newsletters=options.newsletters or None)

        return DaySend(day, queued=[QueuedEdition(*done) for done in asyncio.run(go())])

    def run_daemon(self, clock: Clock, *, embedded: Callable[[Engine, Settings, Clock], None]) -> None:
        self.run_worker(engine_for(self.settings), clock, queues=("periodic",), concurrency=1, name="digest-run")

    def run_worker(self, engine: Engine, clock: Clock, *, queues: Sequence[str], concurrency: int,
                   name: str | None) -> None:
        from digest.workers import run_worker

        asyncio.run(run_worker(engine, self.settings, clock, queues=tuple(queues), concurrency=concurrency,
                               name=name))

    def queue_status(self, engine: Engine) -> dict | None:
        from digest.workers import queue_status

        return queue_status(engine, self.settings)

    def upgrade(self, engine: Engine) -> bool | None:
        """procrastinate's queue schema: True when it was applied now, False when it was there."""
        from digest.workers import build_app, ensure_queue_schema

        async def go():
            queue = build_app(self.settings)
            async with queue.open_async():
                return await ensure_queue_schema(queue, engine)

        return asyncio.run(go())

    def check_worker(self) -> None:
        """Workers run here."""


def backend_for(settings: Settings) -> Embedded | Workers:
    return Workers(settings) if settings.workers.engine == "procrastinate" else Embedded(settings)


def run_worker(settings: Settings, *, clock: Clock, queues: Sequence[str] | None = None,
               concurrency: int | None = None, name: str | None = None) -> None:
    """`digest worker`: send edition shards and take turns at the cluster's periodic work until SIGTERM."""
    backend = backend_for(settings)
    backend.check_worker()
    require_secret(settings)
    queues = tuple(queues or QUEUES)
    if unknown := set(queues) - set(QUEUES):
        raise InputError(f"--queue: unknown queue {sorted(unknown)[0]!r} (send or periodic)")
    backend.run_worker(engine_for(settings), clock, queues=queues, name=name,
                       concurrency=concurrency or settings.workers.concurrency)
