"""Selection over 100,000 articles and 1,000,000 engagement buckets, story clustering included, against one SQL
aggregate over the same buckets in the same store; then the same at four times the articles (the same
1,000,000 buckets spread over them).

    .venv/bin/python benchmarks/selection.py [--articles 100000] [--events 1000000] [--growth 4] [--profile]
                                             [--keep DIR]

"Selection" is what planning an edition does before its per-reader loop, plus one reader's choice:
`edition_ranking` (the candidates ranked in SQL, the few that can reach a digest loaded, clustered into stories
and ranked) and `select_for` of a reader without filters; median of 3 on a fresh session each, wall time and this process's CPU
time (SQLite runs in it: the steadier figure when other work shares the cores). "One SQL
aggregate" is `SELECT article_id, sum(count) FROM engagement GROUP BY article_id` through the same engine,
median of 3. The stores are made with plain sqlite3 inserts under `work`, every article stored under a story key
of its own (as planning leaves them: an earlier edition clustered them), so the pool ranks 100,000 stored stories;
a new article (no key) would be loaded and clustered whatever its score (`pipeline.pool`).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from benchmarks.run import COUNTRIES, CUTOFF, DAY, TOPICS, headline, print_table  # noqa: E402

KINDS = ["view"] * 7 + ["click", "share", "comment"]


def stamp(moment) -> str:
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def build(path: Path, articles: int, events: int, seed: int = 7) -> None:
    """A store of `articles` articles published over the 35 hours before the cutoff and `events` distinct
    (article, hour, kind) buckets over the 35 hours before it."""
    from digest import store

    path.unlink(missing_ok=True)
    store.open_engine(f"sqlite:///{path}").dispose()  # the schema, as the models make it
    rng = random.Random(seed)
    rows = []
    for i in range(1, articles + 1):
        published = stamp(CUTOFF - timedelta(hours=1 + rng.random() * 34))
        rows.append((i, f"https://bench.example.com/a/{i}", f"g{i}", headline(i * 31 + 7), "summary", "",
                     f"Outlet {i % 20}", COUNTRIES[(i // 10) % 5], json.dumps([TOPICS[i % 10]]), published, published, str(i)))
    hours = [stamp(CUTOFF - timedelta(hours=h)) for h in range(1, 36)]
    seen, buckets = set(), []
    while len(buckets) < events:
        key = (rng.randrange(1, articles + 1), rng.randrange(35), rng.randrange(10))
        if key not in seen:
            seen.add(key)
            buckets.append((key[0], hours[key[1]], KINDS[key[2]], rng.randrange(1, 50)))
    with sqlite3.connect(path) as db:
        db.executemany("INSERT INTO article (id, url, guid, title, summary, body, source, country, topics, "
                       "published_at, updated_at, content_hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        db.executemany("INSERT OR IGNORE INTO engagement (article_id, hour, kind, count) VALUES (?,?,?,?)", buckets)
        db.executemany("INSERT INTO storyassignment (article_id, story_key, assigned_at) VALUES (?,?,?)",
                       [(i, f"s{i}", stamp(CUTOFF - timedelta(hours=1))) for i in range(1, articles + 1)])
        db.execute("ANALYZE")


def measure(path: Path, runs: int = 3, profile: bool = False) -> tuple[tuple[float, float], tuple[float, float], int,
                                                                     str]:
    """((selection wall s, CPU s), (aggregate wall s, CPU s), candidates loaded, profile text): medians of `runs`.
    CPU: this process's (SQLite runs in it), the steadier figure on a machine others share."""
    from sqlalchemy import text

    from digest import store
    from digest.config import load_settings
    from digest.models import SubscriberRecord
    from digest.pipeline.plan import edition_plans, edition_ranking
    from digest.select import select_for

    environ = {"DIGEST_SCHEDULE_TIMEZONE": "UTC", "DIGEST_STORE_URL": f"sqlite:///{path}"}
    settings = load_settings(ROOT / "config.toml", environ=environ)
    engine = store.open_engine(settings.store.url, readonly=True)
    plan = edition_plans(settings, DAY)[0]
    reader = SubscriberRecord(1, "a@example.com", max_items=10)
    took, aggregate, cpu, cpu_aggregate, loaded, report = [], [], [], [], 0, ""
    for run in range(runs):
        profiler = cProfile.Profile() if profile and run == runs - 1 else None
        start, ticks = time.perf_counter(), time.process_time()
        profiler and profiler.enable()
        with store.read_session(engine) as session:
            ranking = edition_ranking(session, settings, plan)
        select_for(reader, ranking, sent_articles=set(), sent_stories=set(),
                   trending_items=settings.selection.trending_items)
        profiler and profiler.disable()
        took.append(time.perf_counter() - start)
        cpu.append(time.process_time() - ticks)
        loaded = sum(len(e.story.articles) for e in ranking.top)
        start, ticks = time.perf_counter(), time.process_time()
        with engine.connect() as conn:
            conn.execute(text("SELECT article_id, sum(count) FROM engagement GROUP BY article_id")).fetchall()
        aggregate.append(time.perf_counter() - start)
        cpu_aggregate.append(time.process_time() - ticks)
        if profiler:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
            report = out.getvalue()
    engine.dispose()
    median = statistics.median
    return (median(took), median(cpu)), (median(aggregate), median(cpu_aggregate)), loaded, report


def rows(work: Path, articles: int = 100_000, events: int = 1_000_000, growth: int = 4,
         profile: bool = False, reuse: bool = False) -> list[tuple[str, str]]:
    """The benchmark's printed rows (name, figure); stores are built under `work` (`reuse`: kept from an
    earlier run of the same sizes when there)."""
    found = []
    figures = {}
    for scale in (1, growth) if growth > 1 else (1,):
        n = articles * scale
        path = work / f"selection-{n}-{events}-keyed.db"
        if not (reuse and path.exists()):
            build(path, n, events)
        (took, cpu), (aggregate, cpu_aggregate), loaded, report = measure(path, profile=profile)
        figures[scale] = took, cpu
        found.append((f"selection over {n:,} articles and {events:,} events, clustering included (median of 3)",
                      f"{took:.2f} s, CPU {cpu:.2f} s ({loaded:,} candidates loaded and clustered)"))
        found.append(("  one SQL aggregate over the same events (sum(count) GROUP BY article_id)",
                      f"{aggregate:.2f} s, CPU {cpu_aggregate:.2f} s: selection = {took / aggregate:.1f}x "
                      f"(CPU {cpu / cpu_aggregate:.1f}x)"))
        if report:
            print(f"profile, {n:,} articles:\n{report}", file=sys.stderr)
    if growth > 1:
        found.append((f"{growth}x the articles (the same events)",
                      f"{figures[growth][0] / figures[1][0]:.2f}x the time "
                      f"(CPU {figures[growth][1] / figures[1][1]:.2f}x)"))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--growth", type=int, default=4, help="the larger store's articles, as a multiple")
    parser.add_argument("--profile", action="store_true", help="cProfile of the last run of each size, to stderr")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="build the stores in DIR and keep them; reuse those already there")
    args = parser.parse_args(argv)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        found = rows(args.keep, args.articles, args.events, args.growth, args.profile, reuse=True)
    else:
        with tempfile.TemporaryDirectory(prefix="digest-select-") as tmp:
            found = rows(Path(tmp), args.articles, args.events, args.growth, args.profile)
    print_table("digest selection benchmark", found)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
