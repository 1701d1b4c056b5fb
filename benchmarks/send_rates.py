"""Sending rates, all into Postfix's smtp-sink on loopback, in one run (`make bench` prints these rows).

    .venv/bin/python benchmarks/send_rates.py [--subscribers 20000] [--pg-subscribers 5000] [--stall-messages 10000]

1. Postfix's own load generator: `smtp-source -s 8 -l 16384 -m N` (msg/s from its wall time);
2. the aiosmtplib ceiling: `sendmail()` of one pre-built digest over 8 reused connections;
3. `digest send` of an edition to 20,000 readers on SQLite, 8 connections: the wall rate (start-up and planning
   included) and the sending phase's (first to last `sent_at`), each ÷ (2) and ÷ (1);
4. the same on PostgreSQL (a server started in a temporary directory, tests/pg.py), a shorter run;
5. a stalling relay, smtp-sink `-W RCPT:1:2 -W DATA:1:2` (1 s on about 2% of RCPT and of DATA replies), 50
   connections: the aiosmtplib ceiling and `digest send`'s sending phase, and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.sink import SmtpSink  # noqa: E402

STALL = ["-W", "RCPT:1:2", "-W", "DATA:1:2"]
SPAN_SQLITE = ("SELECT count(*), (julianday(max(sent_at)) - julianday(min(sent_at))) * 86400 FROM delivery "
               "WHERE status = 'sent'")
SPAN_PG = "SELECT count(*), extract(epoch FROM max(sent_at) - min(sent_at)) FROM delivery WHERE status = 'sent'"


def smtp_source(port: int, n: int, sessions: int = 8, size: int = 16384) -> float:
    start = time.perf_counter()
    subprocess.run(["smtp-source", "-s", str(sessions), "-l", str(size), "-m", str(n), f"127.0.0.1:{port}"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return n / (time.perf_counter() - start)


async def aiosmtplib_ceiling(port: int, message: bytes, n: int, connections: int = 8) -> float:
    """msg/s of aiosmtplib `sendmail()` of pre-built bytes over `connections` reused connections, each taking the
    next message as soon as its last one is answered (so one connection's stall does not hold the others)."""
    import aiosmtplib

    left = n

    async def connection() -> None:
        nonlocal left
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, local_hostname="bench.example.com")
        await smtp.connect()
        while left > 0:
            left -= 1
            await smtp.sendmail("bounces@example.com", [f"raw{left}@example.com"], message)
        await smtp.quit()

    start = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    return n / (time.perf_counter() - start)


def sending_span(url: str) -> tuple[int, float]:
    """(messages sent, seconds from the first to the last `sent_at`) in the store at `url`."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            n, span = conn.execute(SPAN_SQLITE).fetchone()
    else:
        from tests.processes import query

        [(n, span)] = query(url, SPAN_PG)
    return n, float(span or 0.0)


def send_once(env: dict) -> dict:
    """`digest send` of the seeded edition: sent, wall seconds, sending-phase rate, variants, CSS inlining runs."""
    from benchmarks.run import DAY, digest

    wall, done, _ = digest(env, "send", "--date", DAY.isoformat())
    sent = int(re.search(r"(\d+) sent", done.stdout).group(1))
    n, span = sending_span(env["DIGEST_STORE_URL"])
    return {"sent": sent, "wall": wall, "rate": sent / wall, "phase": (n - 1) / span if span else 0.0,
            "variants": int(re.search(r"(\d+) variants", done.stdout).group(1)),
            "inlined": int(re.search(r"(\d+) inlined", done.stdout).group(1))}


def rows(sink: SmtpSink, env: dict, message: bytes, *, raw_messages: int = 20_000, pg_subscribers: int = 5_000,
         stall_messages: int = 10_000, stall_connections: int = 50) -> list[tuple[str, str]]:
    """The rows; `env` is a seeded SQLite store's environment pointing at `sink`, `message` one built digest."""
    out = []
    source = smtp_source(sink.port, raw_messages)
    out.append(("Postfix `smtp-source`, 8 sessions, 16 KB messages", f"{source:,.0f} msg/s"))
    raw = asyncio.run(aiosmtplib_ceiling(sink.port, message, raw_messages))
    out.append((f"aiosmtplib ceiling: `sendmail()`, 8 connections, pre-built {len(message) // 1024} KB digest",
                f"{raw:,.0f} msg/s"))
    sq = send_once(env)
    out.append((f"`digest send`, SQLite, {sq['sent']:,} readers, {sq['variants']} variants, 8 connections",
                f"{sq['rate']:,.0f} msg/s wall ({sq['wall']:.1f} s), sending phase {sq['phase']:,.0f} msg/s"))
    out.append(("  ÷ aiosmtplib ceiling, ÷ smtp-source (wall; sending phase)",
                f"{sq['rate'] / raw:.2f}, {sq['rate'] / source:.2f}; {sq['phase'] / raw:.2f}, "
                f"{sq['phase'] / source:.2f}"))
    out.append(("CSS inlining runs (css-inline) for that edition", f"{sq['inlined']} for {sq['variants']} content variants"))
    out.extend(_postgres_rows(sink, pg_subscribers, raw, source))
    if stall_messages:  # 0: skip the stalling relay
        out.extend(_stall_rows(message, stall_messages, stall_connections))
    return out


def _postgres_rows(sink: SmtpSink, subscribers: int, raw: float, source: float) -> list[tuple[str, str]]:
    from benchmarks.run import env_for, seed
    from tests.pg import BIN, TempPostgres

    if BIN is None or not subscribers:
        return [("`digest send`, PostgreSQL", "skipped (no PostgreSQL binaries)")]
    pg = TempPostgres().start()
    try:
        with tempfile.TemporaryDirectory(prefix="digest-bench-pg-") as tmp:
            env = {**env_for(Path(tmp), sink.port), "DIGEST_STORE_URL": pg.create_database("bench_send")}
            seed(Path(tmp), env, subscribers)
            r = send_once(env)
    finally:
        pg.stop()
    return [(f"`digest send`, PostgreSQL, {r['sent']:,} readers, 8 connections",
             f"{r['rate']:,.0f} msg/s wall ({r['wall']:.1f} s), sending phase {r['phase']:,.0f} msg/s"),
            ("  ÷ aiosmtplib ceiling, ÷ smtp-source (wall; sending phase)",
             f"{r['rate'] / raw:.2f}, {r['rate'] / source:.2f}; {r['phase'] / raw:.2f}, {r['phase'] / source:.2f}")]


def _stall_rows(message: bytes, n: int, connections: int) -> list[tuple[str, str]]:
    from benchmarks.run import env_for, seed

    with SmtpSink(STALL, backlog=1024) as stall, tempfile.TemporaryDirectory(prefix="digest-bench-stall-") as tmp:
        raw = asyncio.run(aiosmtplib_ceiling(stall.port, message, n, connections))
        env = {**env_for(Path(tmp), stall.port), "DIGEST_SMTP_CONNECTIONS": str(connections)}
        seed(Path(tmp), env, n)
        r = send_once(env)
    return [(f"stalling relay (smtp-sink {' '.join(STALL)}): aiosmtplib, {connections} connections",
             f"{raw:,.0f} msg/s"),
            (f"the same relay: `digest send`, {r['sent']:,} readers, {connections} connections",
             f"{r['rate']:,.0f} msg/s wall ({r['wall']:.1f} s), sending phase {r['phase']:,.0f} msg/s"),
            ("  ÷ aiosmtplib on that relay (wall; sending phase)", f"{r['rate'] / raw:.2f}; {r['phase'] / raw:.2f}")]


def main(argv: list[str] | None = None) -> int:
    from benchmarks.run import DAY, digest, env_for, machine, seed

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--raw-messages", type=int, default=20_000)
    parser.add_argument("--pg-subscribers", type=int, default=5_000, help="0: skip PostgreSQL")
    parser.add_argument("--stall-messages", type=int, default=10_000, help="0: skip the stalling relay")
    parser.add_argument("--stall-connections", type=int, default=50)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="digest-bench-") as tmp, SmtpSink(backlog=1024) as sink:
        env = env_for(Path(tmp), sink.port)
        seed(Path(tmp), env, args.subscribers)
        _, eml, _ = digest(env, "preview", "--date", DAY.isoformat(), "--format", "eml")
        found = rows(sink, env, eml.stdout.encode(), raw_messages=args.raw_messages,
                     pg_subscribers=args.pg_subscribers, stall_messages=args.stall_messages,
                     stall_connections=args.stall_connections)
    width = max(len(r[0]) for r in found)
    print(f"digest send rates, {time.strftime('%Y-%m-%d')}, {machine()}")
    for name, figure in found:
        print(f"  {name.ljust(width)}  {figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
