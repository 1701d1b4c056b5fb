"""Does the webhooks' outbox slow a send? `digest send` of the same edition to smtp-sink, into two stores seeded
alike: one with no webhook endpoint, one with an endpoint subscribed to every delivery event (so each batch also
writes one event and one pending attempt per message). Prints both rates and the rows the outbox got.

    .venv/bin/python benchmarks/webhooks.py [--subscribers 20000] [--rounds 3]

Nothing is posted during the send (the delivery pass is separate); the endpoint need not exist.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.run import DAY, digest, env_for, machine, seed  # noqa: E402
from tests.sink import SmtpSink  # noqa: E402

EVENTS = "delivery.sent,delivery.failed,delivery.bounced,edition.done"
emit_costs: list[float] = []  # seconds per 500-message batch, one figure per round


def send_rate(env: dict) -> tuple[int, float]:
    wall, done, _ = digest(env, "send", "--date", DAY.isoformat())
    if done.returncode != 0:
        raise SystemExit(f"digest send failed: {done.stderr.strip()}")
    return int(re.search(r"(\d+) sent", done.stdout).group(1)), wall


def outbox_rows(work: Path) -> tuple[int, int]:
    with sqlite3.connect(work / "digest.db") as conn:
        return (conn.execute("SELECT count(*) FROM webhookevent").fetchone()[0],
                conn.execute("SELECT count(*) FROM webhookattempt").fetchone()[0])


def one_round(tmp: Path, port: int, subscribers: int, first: str) -> dict[str, tuple[int, float, tuple[int, int]]]:
    """Two stores seeded alike, one with the endpoint; both sent (`first` first): name → (sent, wall, outbox rows)."""
    works = {name: Path(tmp, name) for name in ("none", "endpoint")}
    envs = {}
    for name, work in works.items():
        work.mkdir()
        envs[name] = env_for(work, port)
        seed(work, envs[name], subscribers)
    added = digest(envs["endpoint"], "webhooks", "add", "http://127.0.0.1:9/hooks", "--events", EVENTS)[1]
    if added.returncode != 0:
        raise SystemExit(f"digest webhooks add failed: {added.stderr.strip()}")
    order = [first] + [n for n in works if n != first]
    result = {name: (*send_rate(envs[name]), outbox_rows(works[name])) for name in order}
    emit_costs.append(emit_cost(works["endpoint"]))
    return result


def emit_cost(work: Path, batch: int = 500, repeats: int = 5) -> float:
    """Seconds `store.webhooks.emit_outcomes` takes for one batch of `batch` sent deliveries (median of
    `repeats`, each rolled back): the emit's own cost in the send path, without the machine's noise."""
    from datetime import datetime, timezone

    from sqlmodel import select

    from digest import store
    from digest.models import Delivery

    engine = store.open_engine(f"sqlite:///{work / 'digest.db'}")
    now = datetime.now(timezone.utc)
    with store.read_session(engine) as session:
        ids = list(session.exec(select(Delivery.id).order_by(Delivery.id).limit(batch)))
    outcomes = [{"id": i, "status": "sent", "smtp_code": 250, "smtp_reply": "2.0.0 Ok", "error": None} for i in ids]
    times = []
    for _ in range(repeats):
        with store.read_session(engine) as session:  # never commits: each repeat writes the same batch again
            start = time.perf_counter()
            store.webhooks.emit_outcomes(session, outcomes=outcomes, now=now)
            session.flush()
            times.append(time.perf_counter() - start)
    engine.dispose()
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the send's rate with and without a webhook endpoint")
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3, help="fresh stores each round; the order alternates")
    args = parser.parse_args(argv)
    rates: dict[str, list[float]] = {"none": [], "endpoint": []}
    print(f"machine: {machine()}")
    with SmtpSink(backlog=1024) as sink:
        for n in range(args.rounds):
            with tempfile.TemporaryDirectory(prefix="digest-bench-webhooks-") as tmp:
                result = one_round(Path(tmp), sink.port, args.subscribers, "none" if n % 2 == 0 else "endpoint")
            for name, (sent, wall, rows) in result.items():
                rates[name].append(sent / wall)
                print(f"round {n + 1}: {name:8}  {sent:,} sent  {sent / wall:,.0f} msg/s ({wall:.1f} s)  "
                      f"outbox: {rows[0]:,} events, {rows[1]:,} attempts")
    none, endpoint = statistics.median(rates["none"]), statistics.median(rates["endpoint"])
    print(f"`digest send`, {args.subscribers:,} subscribers, no webhook endpoint: {none:,.0f} msg/s (median)")
    print(f"`digest send`, {args.subscribers:,} subscribers, an endpoint subscribed to {EVENTS}: "
          f"{endpoint:,.0f} msg/s (median)")
    print(f"with the endpoint ÷ without: {endpoint / none:.0%}")
    cost = statistics.median(emit_costs)
    print(f"the emit of one 500-message batch (in-process, median): {cost * 1000:.1f} ms, "
          f"{cost / 500 * 1e6:.0f} µs per message, against {1e6 / none:,.0f} µs per message for the whole send")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
