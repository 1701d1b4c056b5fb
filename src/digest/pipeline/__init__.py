"""The send path: the one place where store, selection, rendering, message building and sending meet.

    plan edition ─▶ select per subscriber ─▶ queued/skipped delivery rows (committed)
    read batch ─▶ render each variant once ─▶ personalize ─▶ build ─▶ claim (→ sending, committed)
    ─▶ send over the pool ─▶ record each outcome (committed per batch)

`plan` (editions, ranking, delivery rows), `compose` (one reader's message), `deliver` (`EditionSender`: one
edition's batches), `breaker` (the circuit breaker), `transitions` (expiry, interrupted rows, the log line),
`run` (`run_day`, `send_shard`, `retry_due`, all through `send_edition`), `dryrun` (the same path on a scratch
store through a recording mailer).
"""

from digest.pipeline.deliver import EditionReport, Progress
from digest.pipeline.dryrun import DryRunLine, DryRunMailer, dry_run_day
from digest.pipeline.plan import edition_plans
from digest.pipeline.run import finish_editions, plan_day, retry_due, run_day, send_edition, send_shard

__all__ = ["DryRunLine", "DryRunMailer", "EditionReport", "Progress", "dry_run_day", "edition_plans",
           "finish_editions", "plan_day", "retry_due", "run_day", "send_edition", "send_shard"]
