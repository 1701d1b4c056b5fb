"""Chaos test: SIGKILL the sender at random moments, restart it, and check what the relay really got.

    .venv/bin/python benchmarks/chaos.py                      # long form: 2,000 subscribers, 20 kills
    .venv/bin/python benchmarks/chaos.py --subscribers 300 --kills 3   # the short form `make test` runs
    .venv/bin/python benchmarks/chaos.py --store-url postgresql+psycopg://...   # an empty database of your own

Sends one edition to Postfix's smtp-sink (which writes every message it accepts to a file), kills
`digest send` with SIGKILL several times while it sends, restarts it, then lets it finish. It asserts:
no reader received two messages; every reader is either sent or in a recorded non-sent state; each kill
left at most one batch in flight (so `unknown` ≤ kills × batch_size). Exit 0 when all hold.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.processes import ROOT, digest, seed  # noqa: E402
from tests.sink import SmtpSink  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlalchemy.exc import DBAPIError  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402


def environment(url: str, port: int, batch: int, rate: float) -> dict[str, str]:
    return {**os.environ, "DIGEST_STORE_URL": url, "DIGEST_SECRET_KEY": "chaos-key" * 4,
            "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(port), "DIGEST_SMTP_TLS": "none",
            "DIGEST_SMTP_CONNECTIONS": "4", "DIGEST_SMTP_RATE_PER_SECOND": str(rate),
            "DIGEST_SEND_BATCH_SIZE": str(batch), "DIGEST_SCHEDULE_TIMEZONE": "UTC",
            "DIGEST_SCHEDULE_SEND_AT": "07:00", "DIGEST_SEND_LOCK_WAIT_SECONDS": "10"}


def in_flight(db: Engine) -> set[int]:
    """Ids of the deliveries in `sending`."""
    with db.connect() as conn:
        return {row[0] for row in conn.execute(text("SELECT id FROM delivery WHERE status = 'sending'"))}


def statuses(db: Engine) -> dict[str, str]:
    with db.connect() as conn:
        rows = conn.execute(text("SELECT s.email, d.status FROM delivery d JOIN subscriber s "
                                 "ON s.id = d.subscriber_id"))
        return {email: status for email, status in rows}


def kill_loop(env: dict, db: Engine, day: date, kills: int, batch: int, rng: random.Random) -> list[int]:
    """Start the sender, SIGKILL it at a random moment, `kills` times; returns rows in flight at each kill."""
    windows = []
    for _ in range(kills):
        stale = in_flight(db)  # left by the previous kill: the new process turns them `unknown` first
        proc = subprocess.Popen([sys.executable, "-m", "digest", "--config", str(ROOT / "config.toml"), "send",
                                 "--date", day.isoformat()], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        if rng.random() < 0.5:
            time.sleep(rng.uniform(0.5, 4.0))  # anywhere: start-up, planning, composing, sending
        else:
            _wait_until_sending(db, proc, rng, stale)  # the worst moment: a batch on the wire
        if proc.poll() is not None:
            windows.append(0)
            continue
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        windows.append(len(in_flight(db) - stale))
    return windows


def _wait_until_sending(db: Engine, proc: subprocess.Popen, rng: random.Random, stale: set[int],
                        limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if in_flight(db) - stale:
                break
        except DBAPIError:  # the schema may not exist yet
            pass
        time.sleep(0.02)
    time.sleep(rng.uniform(0.0, 0.2))


def check(sink: SmtpSink, db: Engine, subscribers: int, kills: int, batch: int, windows: list[int]) -> list[str]:
    received = sink.received()
    rows = statuses(db)
    problems = []
    twice = [r for r, n in received.items() if n > 1]
    if twice:
        problems.append(f"{len(twice)} readers received more than one message, e.g. {twice[:3]}")
    if len(rows) != subscribers:
        problems.append(f"{subscribers - len(rows)} readers have no delivery row")
    open_rows = [e for e, s in rows.items() if s in ("queued", "sending")]
    if open_rows:
        problems.append(f"{len(open_rows)} deliveries still queued or sending")
    sent_missing = [e for e, s in rows.items() if s == "sent" and received[e] != 1]
    if sent_missing:
        problems.append(f"{len(sent_missing)} rows say sent but the relay has no message, e.g. {sent_missing[:3]}")
    unexplained = [r for r in received if rows.get(r) not in ("sent", "unknown")]
    if unexplained:
        problems.append(f"{len(unexplained)} messages reached the relay with no sent/unknown record")
    if max(windows, default=0) > batch:
        problems.append(f"a kill left {max(windows)} rows in flight, more than one batch ({batch})")
    unknown = sum(1 for s in rows.values() if s == "unknown")
    if unknown > kills * batch:
        problems.append(f"{unknown} unknown, more than kills × batch = {kills * batch}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--rate", type=float, default=150.0, help="messages/s, so kills land mid-send")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--store-url", default=None, help="an empty store (default: a new SQLite file)")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    day = date(2026, 11, 27)
    with tempfile.TemporaryDirectory(prefix="digest-chaos-") as tmp, SmtpSink(dump=True) as sink:
        work = Path(tmp)
        url = args.store_url or f"sqlite:///{work / 'digest.db'}"
        env = environment(url, sink.port, args.batch, args.rate)
        seed(work, env, args.subscribers, day)
        db = create_engine(url, poolclass=NullPool)  # a connection per look, as a separate process would
        windows = kill_loop(env, db, day, args.kills, args.batch, rng)
        final = digest(env, "send", "--date", day.isoformat(), timeout=600)
        time.sleep(0.5)  # let smtp-sink finish writing its last dump files
        rows = statuses(db)
        counts = {s: list(rows.values()).count(s) for s in sorted(set(rows.values()))}
        received = sink.received()
        print(f"chaos: {args.subscribers} subscribers, {args.kills} kills (rows in flight at each: {windows}), "
              f"batch {args.batch}")
        print(f"relay received {sum(received.values())} messages for {len(received)} readers; "
              f"final run exit {final.returncode}; statuses {counts}")
        problems = check(sink, db, args.subscribers, args.kills, args.batch, windows)
        db.dispose()
    for problem in problems:
        print(f"FAIL: {problem}")
    print("chaos: all properties hold" if not problems else f"chaos: {len(problems)} properties violated")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
