"""Does the webhooks' outbox slow a send? `digest send` of the same edition to smtp-sink, into two stores seeded
alike: one with no webhook endpoint, one with an endpoint subscribed to every delivery event (so each batch also
writes one event and one pending attempt per message). Prints both rates and the rows the outbox got.

    .venv/bin/python benchmarks/webhooks.py [--subscribers 20000]

Nothing is posted during the send (the delivery pass is separate); the endpoint need not exist.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.run import DAY, digest, env_for, machine, seed  # noqa: E402
from tests.sink import SmtpSink  # noqa: E402

EVENTS = "delivery.sent,delivery.failed,delivery.bounced,edition.done"


def send_rate(env: dict) -> tuple[int, float]:
    wall, done, _ = digest(env, "send", "--date", DAY.isoformat())
    if done.returncode != 0:
        raise SystemExit(f"digest send failed: {done.stderr.strip()}")
    return int(re.search(r"(\d+) sent", done.stdout).group(1)), wall


def outbox_rows(work: Path) -> tuple[int, int]:
    with sqlite3.connect(work / "digest.db") as conn:
        return (conn.execute("SELECT count(*) FROM webhookevent").fetchone()[0],
                conn.execute("SELECT count(*) FROM webhookattempt").fetchone()[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the send's rate with and without a webhook endpoint")
    parser.add_argument("--subscribers", type=int, default=20_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="digest-bench-webhooks-") as tmp, SmtpSink(backlog=1024) as sink:
        works = {name: Path(tmp, name) for name in ("none", "endpoint")}
        envs = {}
        for name, work in works.items():
            work.mkdir()
            envs[name] = env_for(work, sink.port)
            seed(work, envs[name], args.subscribers)
        added = digest(envs["endpoint"], "webhooks", "add", "http://127.0.0.1:9/hooks", "--events", EVENTS)[1]
        if added.returncode != 0:
            raise SystemExit(f"digest webhooks add failed: {added.stderr.strip()}")
        results = {name: send_rate(envs[name]) for name in ("none", "endpoint")}
        rows = {name: outbox_rows(work) for name, work in works.items()}
    print(f"machine: {machine()}")
    for name, (sent, wall) in results.items():
        label = "no webhook endpoint" if name == "none" else f"an endpoint subscribed to {EVENTS}"
        print(f"`digest send`, {sent:,} subscribers, {label}: {sent / wall:,.0f} msg/s ({wall:.1f} s wall)")
    (s0, w0), (s1, w1) = results["none"], results["endpoint"]
    print(f"with the endpoint ÷ without: {(s1 / w1) / (s0 / w0):.0%}")
    print("outbox rows written: none: {} events / {} attempts; endpoint: {} events / {} attempts".format(
        *rows["none"], *rows["endpoint"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
