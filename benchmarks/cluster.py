"""`digest worker` processes on PostgreSQL: one edition fanned out as shards into Postfix's smtp-sink.

    .venv/bin/python benchmarks/cluster.py                      # 20,000 readers: one process, 1 worker, 2 workers
    .venv/bin/python benchmarks/cluster.py --subscribers 5000 --workers 2
    .venv/bin/python benchmarks/cluster.py --subscribers 5000 --workers 2 --rate 200   # the shared rate limit
    .venv/bin/python benchmarks/cluster.py --stall --subscribers 6000 --connections 8 --shard-size 250  # stalling relay

Starts a PostgreSQL server in a temporary directory (tests/pg.py) and smtp-sink (dumping what it accepts),
seeds one edition's worth of readers, and times it to the last delivery: first the embedded `digest send`,
then `digest send` queueing shards for N already-running `digest worker` processes. The helpers here are
in tests/processes.py, which tests/test_workers.py drives too (with a worker SIGKILLed partway through).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.processes import (counts, digest, environment, finished, query, seed, start_worker,  # noqa: E402
                             stop, wait_until)
from tests.sink import SmtpSink  # noqa: E402

STALL = ["-W", "RCPT:1:2", "-W", "DATA:1:2"]  # as benchmarks/send_rates.py's stalling relay


def sending_rate(url: str) -> float:
    """Messages per second between the first and the last recorded send (planning excluded)."""
    [(n, span)] = query(url, "SELECT count(*), extract(epoch FROM max(sent_at) - min(sent_at)) FROM delivery "
                             "WHERE status = 'sent'")
    return (n - 1) / float(span) if span else 0.0


def run_embedded(url: str, port: int, subscribers: int, day: date, work: Path, rate: float = 0.0,
                 extra: dict | None = None) -> float:
    env = {**environment(url, port, workers=False, rate=rate), **(extra or {})}
    seed(work, env, subscribers, day)
    start = time.monotonic()
    done = digest(env, "send", "--date", day.isoformat())
    if done.returncode:
        raise SystemExit(f"digest send failed: {done.stderr}")
    return time.monotonic() - start


def run_workers(url: str, port: int, subscribers: int, day: date, work: Path, workers: int, concurrency: int,
                rate: float = 0.0, extra: dict | None = None) -> float:
    env = {**environment(url, port, rate=rate), **(extra or {})}
    seed(work, env, subscribers, day)
    procs = [start_worker(env, f"bench-{i}", concurrency, work / f"worker{i}.log") for i in range(workers)]
    try:
        time.sleep(3)  # started and listening, as they would be in production
        start = time.monotonic()
        done = digest(env, "send", "--date", day.isoformat())
        if done.returncode:
            raise SystemExit(f"digest send failed: {done.stderr}")
        wait_until(finished(url, subscribers), 600, "edition finished", poll=0.05)
        return time.monotonic() - start
    finally:
        stop(procs)


def measure(subscribers: int, workers: list[int], *, embedded: bool = True, concurrency: int = 2, rate: float = 0.0,
            connections: int = 4, shard_size: int = 1000, stall: bool = False, echo: bool = True
            ) -> list[tuple[str, float, float, float]]:
    """(label, wall seconds, msg/s wall, msg/s sending phase) for the embedded `digest send` (when `embedded`) and
    for each number of workers, each on a new database of one PostgreSQL server started here."""
    import tempfile

    from tests.pg import TempPostgres

    extra = {"DIGEST_SMTP_CONNECTIONS": str(connections), "DIGEST_WORKERS_SHARD_SIZE": str(shard_size)}
    day = date.today()
    pg = TempPostgres().start()
    rows = []
    runs = ([("one process (embedded `digest send`)", 0)] if embedded else []) + \
        [(f"{n} worker{'s' if n > 1 else ''} × concurrency {concurrency}", n) for n in workers]
    try:
        for label, count in runs:
            url = pg.create_database(f"bench_{count}")
            with SmtpSink(STALL if stall else None, dump=False, backlog=1024) as sink, \
                    tempfile.TemporaryDirectory() as work:
                seconds = (run_embedded(url, sink.port, subscribers, day, Path(work), rate, extra) if not count else
                           run_workers(url, sink.port, subscribers, day, Path(work), count, concurrency, rate, extra))
            found = counts(url)
            if found.get("sent") != subscribers:
                raise SystemExit(f"{label}: expected {subscribers} sent, got {found}")
            rows.append((label, seconds, subscribers / seconds, sending_rate(url)))
            if echo:
                print(f"{label:<42} {seconds:7.1f} s  {subscribers / seconds:7.0f} msg/s  "
                      f"(sending: {sending_rate(url):.0f} msg/s from first to last sent_at)", flush=True)
        if echo:
            for table in ("delivery", "deliveryitem"):
                [(n, total, indexes)] = query(url, f"SELECT count(*), pg_total_relation_size('{table}'), "
                                                   f"pg_indexes_size('{table}') FROM {table}")
                print(f"{table}: {n} rows, {total / n:.0f} bytes/row with indexes ({indexes / n:.0f} of them indexes)")
    finally:
        pg.stop()
    return rows


def rows(subscribers: int = 6000, connections: int = 8, shard_size: int = 250) -> list[tuple[str, str]]:
    """`make bench`'s scale-out row (issue 19, target 6): one worker against two on the stalling relay."""
    (_, _, _, one), (_, _, _, two) = measure(subscribers, [1, 2], embedded=False, connections=connections,
                                             shard_size=shard_size, stall=True, echo=False)
    return [(f"scale-out on the stalling relay (PostgreSQL, {subscribers:,} readers, {connections} connections "
             f"per worker, shards of {shard_size}): 1 / 2 workers × concurrency 2, sending phase",
             f"{one:.0f} / {two:.0f} msg/s = {two / one:.2f}× (target 1.8×)")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=20000)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--rate", type=float, default=0.0,
                        help="[smtp] rate_per_second for every run (0: unlimited); the cluster shares it")
    parser.add_argument("--connections", type=int, default=4, help="[smtp] connections of each sender")
    parser.add_argument("--shard-size", type=int, default=1000,
                        help="[workers] shard_size: many shards per worker slot keep the slots busy to the end")
    parser.add_argument("--stall", action="store_true",
                        help=f"the stalling relay: smtp-sink {' '.join(STALL)} (1 s on ~2%% of RCPT and DATA)")
    args = parser.parse_args(argv)
    rows = measure(args.subscribers, args.workers, concurrency=args.concurrency, rate=args.rate,
                   connections=args.connections, shard_size=args.shard_size, stall=args.stall)
    base, phase = rows[0][2], rows[0][3]
    for label, _, rate, sending in rows[1:]:
        print(f"{label}: {rate / base:.2f}× one process ({sending / phase:.2f}× its sending rate)")
    workers = {label: sending for label, _, _, sending in rows[1:]}
    if len(workers) >= 2:
        (one, r1), *more = workers.items()
        for label, rate in more:
            print(f"sending phase, {label} ÷ {one}: {rate / r1:.2f}×")
    print(f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
