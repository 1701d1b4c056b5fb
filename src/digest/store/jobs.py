"""The workers' queue as the store reads it: procrastinate's own tables (`procrastinate_jobs`,
`procrastinate_workers`), on PostgreSQL only. Functions take a connection (or a session) first."""

from __future__ import annotations

from sqlalchemy import text


def queue_installed(conn) -> bool:
    """Whether procrastinate's schema is in this database."""
    return conn.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is not None


def job_counts(conn, *, task: str) -> dict[str, int]:
    """The jobs of `task` per procrastinate status (todo, doing, failed, …)."""
    return dict(conn.execute(text("SELECT status::text, count(*) FROM procrastinate_jobs "
                                  "WHERE task_name = :task GROUP BY status"), {"task": task}).all())


def workers_alive(conn, *, within_seconds: float) -> int:
    """Workers whose heartbeat is more recent than `within_seconds`."""
    return conn.execute(text("SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat > "
                             "now() - make_interval(secs => :s)"), {"s": within_seconds}).scalar()


def editions_with_live_jobs(conn, *, task: str) -> set[int]:
    """Editions that have a job of `task` waiting or running (its `edition_id` argument)."""
    rows = conn.execute(text("SELECT DISTINCT (args->>'edition_id')::bigint FROM procrastinate_jobs "
                             "WHERE task_name = :task AND status IN ('todo', 'doing')"), {"task": task}).all()
    return {edition_id for (edition_id,) in rows}


def live_ranges(conn, *, task: str, edition_id: int) -> list[tuple[int, int]]:
    """The subscriber-id ranges ((first, last) arguments) of the edition's jobs of `task` waiting or running,
    adjacent and overlapping ones merged (shards partition the ids, so a few intervals cover thousands of jobs)."""
    rows = conn.execute(text("SELECT (args->>'first')::bigint, (args->>'last')::bigint FROM procrastinate_jobs "
                             "WHERE task_name = :task AND status IN ('todo', 'doing') "
                             "AND (args->>'edition_id')::bigint = :edition ORDER BY 1"),
                        {"task": task, "edition": edition_id}).all()
    merged: list[tuple[int, int]] = []
    for first, last in rows:
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged
