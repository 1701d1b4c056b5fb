"""Scale-out on a real PostgreSQL server: `digest worker` processes sending one edition's shards into smtp-sink.

The workers are real processes running procrastinate; one of them is SIGKILLed partway through an edition.
"""

from __future__ import annotations

import re

import itertools
import signal
from datetime import date
from pathlib import Path

import pytest

from tests.pg import BIN
from tests.processes import counts, digest, environment, finished, query, seed, start_worker, statuses, stop, wait_until
from tests.sink import SMTP_SINK, SmtpSink

pytestmark = [
    pytest.mark.skipif(BIN is None, reason="PostgreSQL binaries absent (Debian package postgresql; .ci/run installs it)"),
    pytest.mark.skipif(SMTP_SINK is None, reason="smtp-sink absent (Debian package postfix; .ci/run installs it)"),
]
NAMES = itertools.count()
READERS = 5000
DAY = date.today()


@pytest.fixture
def url(postgres_server):  # the session's server (tests/conftest.py), a database of its own
    return postgres_server.create_database(f"workers_{next(NAMES)}")


@pytest.fixture
def sink():
    with SmtpSink(dump=True) as s:
        yield s


def _logs(tmp_path: Path) -> str:
    return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(tmp_path.glob("worker*.log")))


def test_two_workers_send_each_reader_exactly_one_message(url, sink, tmp_path):
    env = environment(url, sink.port, shard=500)
    seed(tmp_path, env, READERS, DAY)
    workers = [start_worker(env, f"w{i}", 2, tmp_path / f"worker{i}.log") for i in range(2)]
    try:
        queued = digest(env, "send", "--date", DAY.isoformat())
        assert queued.returncode == 0, queued.stderr
        # 5,000 readers in shards of 500: 10, or none when the cluster's minute tick planned the due slot first
        # and queued them itself (a range a live job covers is never queued twice)
        shards = int(re.search(r"(\d+) shards queued", queued.stdout)[1])
        assert shards in (0, 10), queued.stdout
        wait_until(finished(url, READERS), 240, f"edition finished\n{_logs(tmp_path)}")
    finally:
        codes = stop(workers)
    assert codes == [0, 0], _logs(tmp_path)  # SIGTERM: a clean exit
    received = sink.received()
    assert counts(url) == {"sent": READERS}
    assert len(received) == READERS and set(received.values()) == {1}
    owners = dict(statuses_by_owner(url))
    # every row claimed by a shard job, and no range by two
    assert len(owners) == 10 and all(o.startswith("job:") for o in owners), (owners, queued.stdout, _logs(tmp_path))
    done = digest(env, "send", "--date", DAY.isoformat())  # again: nothing left, nothing queued
    assert done.returncode == 0 and "0 shards queued" in done.stdout
    status = digest(env, "status", "--date", DAY.isoformat(), "--json")
    assert status.returncode == 0, status.stderr
    assert '"failed"' not in status.stdout and '"workers_alive": 0' in status.stdout  # both stopped


def run_sql(url: str, script: str) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        for statement in filter(str.strip, script.split(";")):
            conn.execute(statement)


def statuses_by_owner(url: str) -> list[tuple[str, int]]:
    return query(url, "SELECT claimed_by, count(*) FROM delivery GROUP BY claimed_by")


MID_SHARD = """
SELECT count(*) FROM procrastinate_jobs j
 WHERE j.worker_id = {worker} AND j.status = 'doing'
   AND EXISTS (SELECT 1 FROM delivery d WHERE d.claimed_by = 'job:' || j.id AND d.status = 'sending')
   AND (SELECT count(*) FROM delivery d WHERE d.status = 'queued'
         AND d.subscriber_id BETWEEN (j.args->>'first')::int AND (j.args->>'last')::int) >= 50
"""


def test_a_killed_worker_leaves_no_duplicates_and_nothing_queued(url, sink, tmp_path):
    env = environment(url, sink.port, shard=250, rate=400, heartbeat=1, stalled=4, recover=2)
    seed(tmp_path, env, READERS, DAY)
    queued = digest(env, "send", "--date", DAY.isoformat())
    assert queued.returncode == 0, queued.stderr
    victim = start_worker(env, "victim", 2, tmp_path / "worker0.log")
    wait_until(lambda: query(url, "SELECT count(*) FROM procrastinate_workers")[0][0] == 1, 60, "victim started")
    [(victim_id,)] = query(url, "SELECT id FROM procrastinate_workers")
    survivor = start_worker(env, "survivor", 2, tmp_path / "worker1.log")
    try:
        wait_until(lambda: counts(url).get("sent", 0) >= READERS // 4, 120, f"a quarter sent\n{_logs(tmp_path)}")
        # the worst moment: the victim has messages on the wire and most of its shard still to send
        wait_until(lambda: query(url, MID_SHARD.format(worker=victim_id))[0][0] > 0, 60, "victim mid-shard",
                   poll=0.005)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        wait_until(finished(url, READERS), 240, f"edition finished after the kill\n{_logs(tmp_path)}")
    finally:
        codes = stop([survivor])
    assert codes == [0], _logs(tmp_path)
    assert "of a dead worker" in (tmp_path / "worker1.log").read_text()  # found stalled, recovered, retried
    rows = statuses(url)
    received = sink.received()
    found = counts(url)
    assert len(rows) == READERS and set(found) <= {"sent", "unknown"}  # nothing queued, sending or deferred
    assert max(received.values()) == 1  # nobody got two messages
    assert all(received[e] == 1 for e, s in rows.items() if s == "sent")
    assert all(rows[r] in ("sent", "unknown") for r in received)
    # only what the dead worker had on the wire is unknown: at most its concurrency × batch size
    assert found.get("unknown", 0) <= 2 * 50, found
    assert found["sent"] >= READERS - 2 * 50


def test_the_rate_limit_is_shared_through_postgres(url):
    """Two workers' reservations queue behind each other on the database's clock; a 421 halves it for all."""
    from digest import store

    first, second = store.open_engine(url), store.open_engine(url)  # two processes' engines
    try:
        with first.begin() as conn:
            wait_a, rate_a = store.ratelimit.reserve(conn, name="smtp", count=10, target=10.0)
        with second.begin() as conn:
            wait_b, _ = store.ratelimit.reserve(conn, name="smtp", count=10, target=10.0)
        assert wait_a < 0.1 and rate_a == 10.0
        assert 0.9 < wait_b - wait_a <= 1.0  # the ten sends ahead of it take one second at 10/s
        with first.begin() as conn:
            assert store.ratelimit.throttle(conn, name="smtp") == 5.0  # 10/s, halved
        with second.begin() as conn:
            _, rate = store.ratelimit.reserve(conn, name="smtp", count=1, target=10.0)
            _, recovering = store.ratelimit.reserve(conn, name="smtp", count=1, target=10.0)
        assert rate == 5.0 and recovering == pytest.approx(5.1)  # the other worker slows down too, then recovers
    finally:
        first.dispose()
        second.dispose()


def test_db_upgrade_applies_the_queue_schema_once_and_the_models_still_match(url, tmp_path):
    from digest import store
    from digest.store.migrate import schema_diff

    env = environment(url, 25)
    first = digest(env, "db", "upgrade")
    again = digest(env, "db", "upgrade")
    assert first.returncode == 0 and "queue schema applied" in first.stdout, first.stderr
    assert again.returncode == 0 and "queue schema already there" in again.stdout
    engine = store.open_engine(url)
    try:
        assert schema_diff(engine) == []  # procrastinate's tables live beside ours and are not ours to diff
    finally:
        engine.dispose()


@pytest.fixture
def cluster(url, settings):
    """In-process: the cluster's settings, a store with 7 readers, and a function running `go(app, engine)`
    inside an open procrastinate app whose queue schema is applied."""
    import asyncio
    from dataclasses import replace

    from digest import store
    from digest.workers.app import build_app, ensure_queue_schema
    from tests.conftest import NOW
    from tests.factories import seed as seed_store

    config = replace(settings, store=replace(settings.store, url=url),
                     workers=replace(settings.workers, engine="procrastinate", shard_size=3))
    engine = store.open_engine(url)
    seed_store(engine, NOW, subscribers=7)

    def run(go):
        async def main():
            queue = build_app(config)
            async with queue.open_async():
                await ensure_queue_schema(queue, engine)
                return await go(queue, engine, config)
        return asyncio.run(main())

    yield run
    engine.dispose()


def test_the_cluster_tick_plans_due_slots_once_and_queues_their_shards(cluster, url):
    """The periodic tick (run by whichever worker procrastinate hands it to): due editions are planned and
    sharded; the next tick plans nothing and queues nothing more; then shards for due retries only."""
    from datetime import timedelta

    from digest.workers.tick import cluster_tick
    from tests.conftest import NOW

    async def ticks(queue, engine, config):
        at = [NOW - timedelta(minutes=5), NOW + timedelta(minutes=1), NOW + timedelta(minutes=2)]
        return [await cluster_tick(queue, engine, config, lambda t=t: t) for t in at]

    assert cluster(ticks) == [0, 3, 0]  # not yet due; 7 readers in shards of 3; nothing new
    jobs = query(url, "SELECT args->>'first', args->>'last', status FROM procrastinate_jobs "
                      "WHERE task_name = 'digest.send_shard' ORDER BY id")
    assert [(int(a), int(b), s) for a, b, s in jobs] == [(1, 3, "todo"), (4, 6, "todo"), (7, 7, "todo")]
    assert counts(url) == {"queued": 7}
    run_sql(url, "UPDATE delivery SET status = 'sent' WHERE subscriber_id <> 5; "
                 "UPDATE delivery SET status = 'deferred', next_attempt_at = '2026-11-27 07:30+00' "
                 "WHERE subscriber_id = 5; DELETE FROM procrastinate_jobs")

    async def retry_ticks(queue, engine, config):
        early = await cluster_tick(queue, engine, config, lambda: NOW + timedelta(minutes=10))
        due = await cluster_tick(queue, engine, config, lambda: NOW + timedelta(minutes=40))
        return early, due

    assert cluster(retry_ticks) == (0, 1)  # the retry is not due at 07:10; at 07:40 one shard for it
    assert query(url, "SELECT args->>'first', args->>'last' FROM procrastinate_jobs") == [("5", "5")]


def test_a_running_shards_range_is_not_queued_again_and_the_tick_waits_for_a_planner(cluster, url):
    """`digest send` while shards run queues only the rows no live job covers (a second job over a running
    range would split it with the first); the tick's resume step leaves an edition alone while a planner holds
    its lock (planning, then queueing what it planned)."""
    from digest.lock import exclusive
    from digest.workers.enqueue import enqueue_edition, plan_and_enqueue
    from digest.workers.tick import resume_editions
    from tests.conftest import NOW

    async def plan(queue, engine, config):
        return await plan_and_enqueue(queue, engine, config, NOW.date(), clock=lambda: NOW)

    [(_, planned, shards)] = cluster(plan)
    assert (planned, shards) == (7, 3)  # 7 readers in shards of 3
    [(edition_id,)] = query(url, "SELECT DISTINCT edition_id FROM delivery")
    first = query(url, "SELECT min(id) FROM procrastinate_jobs")[0][0]
    run_sql(url, f"UPDATE procrastinate_jobs SET status = 'doing' WHERE id = {first}; "  # 1-3 running,
                 "UPDATE delivery SET status = 'sent' WHERE subscriber_id = 1; "  # one of its rows sent
                 "DELETE FROM procrastinate_jobs WHERE status = 'todo'")  # 4-6 and 7-7 gone (an operator, a crash)

    async def again(queue, engine, config):
        return await enqueue_edition(queue, engine, config, edition_id, now=NOW)

    assert cluster(again) == 2  # not 1-3's rows 2 and 3: only 4-6 and 7-7
    ranges = query(url, "SELECT (args->>'first')::int, (args->>'last')::int FROM procrastinate_jobs ORDER BY id")
    assert ranges == [(1, 3), (4, 6), (7, 7)]
    run_sql(url, "DELETE FROM procrastinate_jobs WHERE status = 'todo'")

    async def resume_while_planning(queue, engine, config):
        with exclusive(engine, "planner"):
            busy = await resume_editions(queue, engine, config, lambda: NOW)
        return busy, await resume_editions(queue, engine, config, lambda: NOW)

    assert cluster(resume_while_planning) == (0, 2)  # waits while planning; then 4-6 and 7-7 again


def test_recovery_marks_only_dead_or_finished_jobs_rows_unknown(cluster, url):
    """A job whose worker stopped its heartbeat is retried and its rows in `sending` become `unknown`; so do
    rows whose job ended without recording them; a live worker's rows are left alone."""
    from digest.workers.recovery import recover_stalled
    from digest.workers.tick import cluster_tick
    from tests.conftest import NOW

    async def plan(queue, engine, config):
        return await cluster_tick(queue, engine, config, lambda: NOW)

    assert cluster(plan) == 3
    [live, dead, gone] = [row[0] for row in query(url, "SELECT id FROM procrastinate_jobs ORDER BY id")]
    run_sql(url, f"""
        INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now()), (now() - interval '10 minutes');
        UPDATE procrastinate_jobs SET status = 'doing', worker_id = (SELECT min(id) FROM procrastinate_workers)
         WHERE id = {live};
        UPDATE procrastinate_jobs SET status = 'doing', worker_id = (SELECT max(id) FROM procrastinate_workers)
         WHERE id = {dead};
        UPDATE procrastinate_jobs SET status = 'failed' WHERE id = {gone};
        UPDATE delivery SET status = 'sending', claimed_by = 'job:{live}' WHERE subscriber_id = 1;
        UPDATE delivery SET status = 'sending', claimed_by = 'job:{dead}' WHERE subscriber_id = 4;
        UPDATE delivery SET status = 'sending', claimed_by = 'job:{gone}' WHERE subscriber_id = 7;
        UPDATE delivery SET status = 'sending', claimed_by = NULL WHERE subscriber_id = 2""")

    async def recover(queue, engine, config):
        return await recover_stalled(queue, engine, config, lambda: NOW)

    assert cluster(recover) == 1
    rows = dict(query(url, "SELECT subscriber_id, status FROM delivery WHERE subscriber_id IN (1, 2, 4, 7)"))
    assert rows == {1: "sending", 2: "sending", 4: "unknown", 7: "unknown"}  # 2: the embedded sender's own
    assert dict(query(url, f"SELECT id, status FROM procrastinate_jobs WHERE id IN ({dead}, {live})")) == \
        {dead: "todo", live: "doing"}  # the dead worker's shard goes back to the queue


def test_the_tick_requeues_rows_whose_shard_jobs_are_gone(cluster, url):
    """A shard job that failed for good (or was deleted, or never enqueued because the scheduler died after
    planning) leaves rows `queued`; the next tick finds sendable rows no live shard covers and queues a shard
    for them, without waiting for the edition's other shards; rows a live shard covers get none."""
    from datetime import timedelta

    from digest.workers.tick import cluster_tick
    from tests.conftest import NOW

    def at(minutes):
        async def tick(queue, engine, config):
            return await cluster_tick(queue, engine, config, lambda: NOW + timedelta(minutes=minutes))
        return tick

    assert cluster(at(0)) == 3
    run_sql(url, "UPDATE procrastinate_jobs SET status = 'failed' WHERE args->>'first' = '1'; "
                 "UPDATE procrastinate_jobs SET status = 'doing' WHERE args->>'first' = '4'")
    assert cluster(at(1)) == 1  # 1-3's job failed: a new one; 4-6 running and 7-7 waiting: nothing for them
    assert query(url, "SELECT args->>'first', args->>'last', status FROM procrastinate_jobs ORDER BY id") == \
        [("1", "3", "failed"), ("4", "6", "doing"), ("7", "7", "todo"), ("1", "3", "todo")]
    assert cluster(at(2)) == 0  # every sendable row is in a live job's hands
    run_sql(url, "UPDATE procrastinate_jobs SET status = 'succeeded' WHERE status <> 'failed'; "
                 "UPDATE delivery SET status = 'sent' WHERE subscriber_id <> 5")
    assert cluster(at(3)) == 1  # 4-6's job ended with subscriber 5 still queued
    assert query(url, "SELECT args->>'first', args->>'last' FROM procrastinate_jobs WHERE status = 'todo'") == \
        [("5", "5")]


def test_the_tick_expires_an_edition_past_its_deadline_and_finishes_it(cluster, url, settings):
    """No shard is running to notice the deadline: the tick expires what is left (never a row in flight)
    and marks the edition done; an edition whose rows were all skipped is finished too."""
    from datetime import timedelta

    from digest.workers.tick import cluster_tick
    from tests.conftest import NOW

    def at(moment):
        async def tick(queue, engine, config):
            return await cluster_tick(queue, engine, config, lambda: moment)
        return tick

    assert cluster(at(NOW)) == 3
    run_sql(url, "DELETE FROM procrastinate_jobs; UPDATE delivery SET status = 'sent' WHERE subscriber_id <= 2; "
                 "UPDATE delivery SET status = 'unknown' WHERE subscriber_id = 3")
    late = NOW + timedelta(hours=settings.send.deadline_hours, minutes=1)
    assert cluster(at(late)) == 0
    assert counts(url) == {"sent": 2, "unknown": 1, "expired": 4}
    assert query(url, "SELECT status, finished_at IS NOT NULL FROM edition") == [("done", True)]
    run_sql(url, "UPDATE edition SET status = 'planned', finished_at = NULL; "
                 "UPDATE delivery SET status = 'skipped' WHERE status = 'expired'")
    assert cluster(at(NOW + timedelta(minutes=10))) == 0
    assert query(url, "SELECT status FROM edition") == [("done",)]


def test_a_workers_leftover_sends_expire_with_their_window_and_a_throttle_shrinks_the_block(url):
    """SharedBucket: sends reserved but not used before their window closed are not carried into another
    worker's time (the next send reserves afresh); a 421 gives up the block, and blocks follow the rate."""
    import asyncio

    from digest import store
    from digest.workers.bucket import SharedBucket

    engine = store.open_engine(url)
    try:
        bucket = SharedBucket(engine, rate=20.0)
        reservations = []
        reserve = bucket._reserve
        bucket._reserve = lambda count: reservations.append(count) or reserve(count)

        async def sends():
            await bucket.take()  # reserves 2 (a tenth of a second at 20/s), uses 1
            await asyncio.sleep(0.3)  # its window (0.1 s) has closed
            await bucket.take()  # so this reserves again instead of using the leftover
            await bucket.take()  # the second of that block
            bucket.throttle()  # 20/s → 10/s: the rest of the block is given up
            await bucket.take()
            await bucket.take()

        asyncio.run(sends())
        assert reservations == [2, 2, 1, 1]  # after the throttle, blocks of one at 10/s
        assert bucket.rate == pytest.approx(10.0 * 1.02)  # each reservation lets the shared rate recover
    finally:
        engine.dispose()
