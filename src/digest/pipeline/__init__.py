"""The send path: the one place where store, selection, rendering, message building and sending meet.

    plan edition ─▶ select per subscriber ─▶ queued/skipped delivery rows (committed)
    read batch ─▶ render each variant once ─▶ personalize ─▶ build ─▶ claim (→ sending, committed)
    ─▶ send over the pool ─▶ record each outcome (committed per batch)

`plan` (editions, ranking, delivery rows), `compose` (one reader's message), `deliver` (`EditionSender`: one
edition's batches), `breaker` (the circuit breaker), `transitions` (expiry, interrupted rows, the log line),
`run` (`run_day`, `send_shard`, `retry_due`, all through `send_edition`), `dryrun` (the same path on a scratch
store through a recording mailer).

The names below are imported when first used (PEP 562), so `digest preview`, which needs `plan` and `compose`
only, does not load the sender and its SMTP client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_HOMES = {"EditionReport": "deliver", "Progress": "deliver", "DryRunLine": "dryrun", "DryRunMailer": "dryrun",
          "dry_run_day": "dryrun", "edition_plans": "plan", "finish_editions": "run", "plan_day": "run",
          "retry_due": "run", "run_day": "run", "send_edition": "run", "send_shard": "run"}

__all__ = ["DryRunLine", "DryRunMailer", "EditionReport", "Progress", "dry_run_day", "edition_plans",
           "finish_editions", "plan_day", "retry_due", "run_day", "send_edition", "send_shard"]

if TYPE_CHECKING:
    from digest.pipeline.deliver import EditionReport, Progress
    from digest.pipeline.dryrun import DryRunLine, DryRunMailer, dry_run_day
    from digest.pipeline.plan import edition_plans
    from digest.pipeline.run import finish_editions, plan_day, retry_due, run_day, send_edition, send_shard


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'digest.pipeline' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"digest.pipeline.{_HOMES[name]}"), name)
    globals()[name] = value
    return value
