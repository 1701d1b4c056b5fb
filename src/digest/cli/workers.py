"""`digest worker`: one of the procrastinate workers of `[workers] engine = "procrastinate"` (see
docs/workers.md); `operations.backends` checks that engine and runs it."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from digest.cli.base import app, configure_logging, now_utc


@app.command()
def worker(ctx: typer.Context,
           concurrency: Annotated[Optional[int], typer.Option("--concurrency", "-n", min=1, help="Shards sent at once (default [workers] concurrency).")] = None,
           queue: Annotated[Optional[list[str]], typer.Option("--queue", "-q", help="Only these queues: send (shards), periodic (the cluster's scheduled work). Default: both.")] = None,
           name: Annotated[Optional[str], typer.Option("--name", help="Worker name in procrastinate's tables and the logs.")] = None):
    """A worker: sends edition shards, and takes its turn at the cluster's periodic work. Stop with SIGTERM."""
    from digest.operations.backends import run_worker

    configure_logging(ctx.obj.settings)
    run_worker(ctx.obj.settings, clock=now_utc, queues=queue, concurrency=concurrency, name=name)
