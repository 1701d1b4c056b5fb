"""`digest` and `digest worker` as real processes against a store: their environment, seeding, and waiting.

Used by tests/test_workers.py and by the benchmarks that drive the same processes (benchmarks/cluster.py,
benchmarks/chaos.py); tests import nothing from benchmarks/.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UNFINISHED = ("queued", "sending", "deferred")


def environment(url: str, port: int, *, workers: bool = True, rate: float = 0.0, batch: int = 50,
                shard: int = 1000, stalled: float = 60.0, heartbeat: float = 10.0, recover: int = 15) -> dict:
    return {**os.environ, "DIGEST_STORE_URL": url, "DIGEST_SECRET_KEY": "cluster-key" * 3,
            "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(port), "DIGEST_SMTP_TLS": "none",
            "DIGEST_SMTP_CONNECTIONS": "4", "DIGEST_SMTP_RATE_PER_SECOND": str(rate),
            "DIGEST_SEND_BATCH_SIZE": str(batch), "DIGEST_SCHEDULE_TIMEZONE": "UTC",
            "DIGEST_SCHEDULE_SEND_AT": "07:00", "DIGEST_LOG_LEVEL": "WARNING",
            "DIGEST_WORKERS_ENGINE": "procrastinate" if workers else "embedded",
            "DIGEST_WORKERS_SHARD_SIZE": str(shard), "DIGEST_WORKERS_STALLED_SECONDS": str(stalled),
            "DIGEST_WORKERS_HEARTBEAT_SECONDS": str(heartbeat), "DIGEST_WORKERS_RECOVER_SECONDS": str(recover)}


def start_worker(env: dict, name: str, concurrency: int = 2, log: Path | None = None) -> subprocess.Popen:
    out = open(log, "ab") if log else subprocess.DEVNULL
    return subprocess.Popen([sys.executable, "-m", "digest", "--config", str(ROOT / "config.toml"), "worker",
                             "--concurrency", str(concurrency), "--name", name], env=env, stdout=out, stderr=out)


def query(url: str, sql: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return conn.execute(sql).fetchall()


def counts(url: str) -> dict[str, int]:
    return dict(query(url, "SELECT status, count(*) FROM delivery GROUP BY status"))


def statuses(url: str) -> dict[str, str]:
    return dict(query(url, "SELECT s.email, d.status FROM delivery d JOIN subscriber s ON s.id = d.subscriber_id"))


def wait_until(predicate, timeout: float, what: str, poll: float = 0.1) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{what}: not after {timeout:.0f} s")
        time.sleep(poll)
    return time.monotonic() - start


def finished(url: str, expected: int):
    def done() -> bool:
        found = counts(url)
        return sum(found.values()) >= expected and not any(found.get(s) for s in UNFINISHED)
    return done


def stop(procs: list[subprocess.Popen]) -> list[int]:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    return [proc.wait(30) for proc in procs]


def digest(env: dict, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "digest", "--config", str(ROOT / "config.toml"), *args], env=env,
                          capture_output=True, text=True, **kw)


def seed(work: Path, env: dict, subscribers: int, day: date) -> None:
    cutoff = datetime.combine(day, datetime.min.time(), tzinfo=timezone.utc) + timedelta(hours=7)
    articles = work / "articles.jsonl"
    with open(articles, "w") as fh:
        for i in range(30):
            fh.write(json.dumps({"url": f"https://news.example.com/chaos/{i}", "title": f"Chaos story {i}",
                                 "summary": f"What happened in story {i}.", "source": f"Outlet {i % 5}",
                                 "published": (cutoff - timedelta(hours=1 + i)).isoformat()}) + "\n")
    people = work / "subscribers.csv"
    with open(people, "w") as fh:
        fh.write("email,name,max_items\n")
        fh.writelines(f"reader{i:05d}@example.com,Reader {i},8\n" for i in range(subscribers))
    for args in (("ingest", str(articles)), ("subscribers", "import", str(people))):
        done = digest(env, *args)
        if done.returncode:
            raise SystemExit(f"seeding failed: {done.stderr}")
