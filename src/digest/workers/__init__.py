"""Scale-out: an edition fanned out to `digest worker` processes through procrastinate (PostgreSQL only).

With `[workers] engine = "procrastinate"`, planning an edition writes its delivery rows exactly as the
embedded mode does, then enqueues one shard task per range of about `[workers] shard_size` subscriber ids
(`enqueue`). Workers (`run_worker`) send shards with the pipeline's own `send_shard`: the same batches,
claims, outcomes and deadlines, claiming rows as "job:N" instead of holding the store-wide sender lock.
Periodic work (due editions, retries, feed polling, dead workers' shards) is procrastinate's periodic
tasks, deferred once per tick for the whole cluster. See docs/workers.md.
"""

from digest.workers.app import build_app, ensure_queue_schema, queue_status, run_worker
from digest.workers.enqueue import enqueue_edition, plan_and_enqueue
from digest.workers.bucket import SharedBucket

__all__ = ["SharedBucket", "build_app", "enqueue_edition", "ensure_queue_schema", "plan_and_enqueue", "queue_status",
           "run_worker"]
