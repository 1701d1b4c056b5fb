"""The performance benchmark: prints every row of the README's performance table, in one run.

    make bench          (or: .venv/bin/python benchmarks/run.py [--subscribers 20000] [--dry-run-subscribers 100000])

1-2. the sending rates (benchmarks/send_rates.py): Postfix's smtp-source, the aiosmtplib ceiling, end-to-end
   `digest send` (selection, rendering, message building, SMTP, delivery rows committed) for 20,000
   subscribers over 50 preference variants on SQLite and the same edition on PostgreSQL, and their ratios to both,
   and a stalling relay with 50 connections;
3. `digest send --dry-run` for 100,000 subscribers: wall time, peak memory (VmHWM) and seconds per 1,000 readers
   (benchmarks/scale.py; its own run adds 1,000,000);
4. `digest preview` and `digest --help` from a cold start;
5. selection (candidates, engagement, ranking, one subscriber's pick) over 100,000 articles and
   1,000,000 engagement events;
6. `digest subscribers import` of 100,000 rows;
7. CSS inlining runs per edition (css-inline) (one per content variant);
8. the console's pages (benchmarks/console.py): the overview, an edition of 1,000,000 deliveries (page and JSON),
   the readers search over 1,000,000 readers and a reader's page, cold and warm (its store cached under var/bench/);
9. scale-out (benchmarks/cluster.py): one and two `digest worker` processes on PostgreSQL into the stalling relay,
   the sending phase of each and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.sink import SmtpSink  # noqa: E402
from benchmarks import send_rates  # noqa: E402  (sending rates: smtp-source, aiosmtplib, SQLite, PostgreSQL, stalls)

DAY = date(2026, 11, 27)
CUTOFF = datetime(2026, 11, 27, 7, 0, tzinfo=timezone.utc)
TOPICS = ["politics", "world", "business", "technology", "science", "health", "sport", "culture", "environment",
          "education"]
COUNTRIES = ["United States", "United Kingdom", "Germany", "India", "Brazil"]


def env_for(work: Path, port: int) -> dict[str, str]:
    return {**os.environ, "DIGEST_STORE_URL": f"sqlite:///{work / 'digest.db'}", "DIGEST_SECRET_KEY": "bench" * 7,
            "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(port), "DIGEST_SMTP_TLS": "none",
            "DIGEST_SMTP_CONNECTIONS": "8", "DIGEST_SCHEDULE_TIMEZONE": "UTC", "DIGEST_SCHEDULE_SEND_AT": "07:00",
            "DIGEST_SEND_BATCH_SIZE": "500", "DIGEST_SMTP_MAX_PER_CONNECTION": "100000"}


def digest(env: dict, *args: str, stdout=subprocess.PIPE) -> tuple[float, subprocess.CompletedProcess, int]:
    """(wall seconds, the finished process, peak resident memory in KiB) of one `digest` command."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "digest", "--config", str(ROOT / "config.toml"), *args],
                            env=env, stdout=stdout, stderr=subprocess.PIPE, text=True)
    peak = 0
    out, err = "", ""
    while proc.poll() is None:
        peak = max(peak, _vmhwm(proc.pid))
        try:
            out, err = proc.communicate(timeout=0.05)
        except subprocess.TimeoutExpired:
            continue
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 3):
        raise SystemExit(f"digest {' '.join(args)} failed: {err[-2000:]}")
    return wall, subprocess.CompletedProcess(proc.args, proc.returncode, out, err), peak


def _vmhwm(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _vocabulary() -> list[str]:
    """Real headline words (the demo articles'), so generated headlines look like news to the clustering."""
    text = (ROOT / "src" / "digest" / "demo_data" / "articles.jsonl").read_text(encoding="utf-8")
    words = {w.lower() for line in text.splitlines() for w in re.findall(r"[A-Za-z]{4,}", json.loads(line)["title"])}
    return sorted(words)


WORDS = _vocabulary()


def headline(i: int) -> str:
    """Distinct, news-like headlines: eight words drawn from real headlines, seeded by `i`."""
    import random

    rng = random.Random(i)
    return " ".join(rng.sample(WORDS, 8)).capitalize()


def write_articles(path: Path, n: int = 400) -> None:
    with open(path, "w") as fh:
        for i in range(n):
            fh.write(json.dumps({
                "url": f"https://news.example.com/{TOPICS[i % 10]}/{i}", "title": headline(i),
                "summary": f"What happened in story {i}, who was involved, and why it matters today. " * 2,
                "source": f"Outlet {i % 7}", "country": COUNTRIES[(i // 10) % 5], "topics": TOPICS[i % 10],
                "published": (CUTOFF - timedelta(hours=1 + (i % 30))).isoformat()}) + "\n")


def write_subscribers(path: Path, n: int) -> None:
    with open(path, "w") as fh:
        fh.write("email,name,topics,countries,max_items,format\n")
        for i in range(n):
            fh.write(f"reader{i:06d}@example.com,Reader {i},{TOPICS[i % 10]},{COUNTRIES[(i // 10) % 5]},10,html\n")


def seed(work: Path, env: dict, subscribers: int) -> float:
    write_articles(work / "articles.jsonl")
    write_subscribers(work / "subscribers.csv", subscribers)
    digest(env, "ingest", str(work / "articles.jsonl"))
    wall, _, _ = digest(env, "subscribers", "import", str(work / "subscribers.csv"))
    return wall


async def raw_ceiling(port: int, message: bytes, n: int, connections: int = 8) -> float:
    import aiosmtplib

    async def worker(count: int) -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, local_hostname="bench.example.com")
        await smtp.connect()
        for i in range(count):
            await smtp.sendmail("bounces@example.com", [f"raw{i}@example.com"], message)
        await smtp.quit()

    start = time.perf_counter()
    await asyncio.gather(*(worker(n // connections) for _ in range(connections)))
    return (n // connections * connections) / (time.perf_counter() - start)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.system()} {platform.machine()}"


def main(argv: list[str] | None = None) -> int:
    sys.modules.setdefault("benchmarks.run", sys.modules[__name__])  # send_rates uses these helpers
    parser = argparse.ArgumentParser(description="digest performance benchmark")
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--dry-run-subscribers", type=int, default=100_000)
    parser.add_argument("--raw-messages", type=int, default=20_000)
    parser.add_argument("--select-articles", type=int, default=100_000)
    parser.add_argument("--select-events", type=int, default=1_000_000)
    parser.add_argument("--console-deliveries", type=int, default=1_000_000, help="0: skip the console's pages")
    parser.add_argument("--scale-out-subscribers", type=int, default=6_000,
                        help="readers of the scale-out row (PostgreSQL, 1 and 2 workers, stalling relay); 0: skip it")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="digest-bench-") as tmp, SmtpSink(backlog=1024) as sink:
        small = Path(tmp, "small")
        small.mkdir()
        env_small = env_for(small, sink.port)

        seed(small, env_small, args.subscribers)
        _, eml, _ = digest(env_small, "preview", "--date", DAY.isoformat(), "--format", "eml")
        message = eml.stdout.encode()
        rows.extend(send_rates.rows(sink, env_small, message, raw_messages=args.raw_messages,
                                     pg_subscribers=args.subscribers))  # the same edition on both stores

        from benchmarks import scale  # the import and the dry run (1,000,000 readers: benchmarks/scale.py alone)

        rows.extend(scale.rows((args.dry_run_subscribers,), work=Path(tmp)))
        compileall.compile_dir(str(ROOT / "src"), quiet=1)  # as an installed digest has it (PYTHONDONTWRITEBYTECODE
        # set in a shell would otherwise have every cold start compile the project from source)
        previews = sorted(digest(env_small, "preview", "--date", DAY.isoformat(), "--out", os.devnull)[0]
                          for _ in range(3))
        rows.append(("`digest preview` from a cold start (median of 3)", f"{previews[1]:.2f} s (target 0.5 s)"))
        helps = sorted(digest(env_small, "--help")[0] for _ in range(3))
        rows.append(("`digest --help` from a cold start (median of 3)", f"{helps[1]:.2f} s (target 0.25 s)"))
        from benchmarks import selection

        rows.extend(selection.rows(Path(tmp), args.select_articles, args.select_events))
    if args.console_deliveries:
        from benchmarks import console

        pages = console.parser().parse_args(["--deliveries", str(args.console_deliveries), "--cold-runs", "3"])
        rows.extend(console.rows(pages))
    if args.scale_out_subscribers:
        from benchmarks import cluster

        rows.extend(cluster.rows(args.scale_out_subscribers))
    print_table("digest benchmark", rows)
    return 0


def print_table(title: str, rows: list[tuple[str, str]]) -> None:
    """The figures as `make bench` prints them: a heading with the date and machine, then one row each."""
    width = max(len(name) for name, _ in rows)
    print(f"{title}, {datetime.now():%Y-%m-%d}, {machine()}")
    for name, figure in rows:
        print(f"  {name.ljust(width)}  {figure}")


if __name__ == "__main__":
    raise SystemExit(main())
