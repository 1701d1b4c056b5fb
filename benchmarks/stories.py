"""How long same-event clustering takes for N articles: `python benchmarks/stories.py [N] [--repeat R] [--one-window]`.

The articles are synthetic but made of real text: words drawn from the news samples in tests/data with their real
frequencies, grouped into events (1 to 6 reports within 12 hours) that share a headline, a lead sentence and a few
names of their own, as outlets covering one event do. Fixed seed.

By default they arrive at a real rate, `--per-day` (300, a busy day of the outlets the project reads), so 20,000
articles cover 67 days and every 48-hour window holds about as many as a real edition. `--one-window` publishes all
of them within 48 hours (the former default): every pair is inside the clustering window, and since every article
draws from one fixed pool of words, the pairs sharing a rarer word grow as N² (not a real day: at 20,000 each
headline and lead sentence of the samples is reused by about nine different events).
"""

from __future__ import annotations

import argparse
import csv
import random
import re
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from digest.models import ArticleRecord
from digest.stories import StoryParams, group_stories

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = [ROOT / "tests" / "data" / "news-articles-2017-02-07_08.csv",
           ROOT / "tests" / "data" / "news-articles-dec2016-feb2017.csv"]
OUTLETS = ["tass.com", "dw.com", "bbc.co.uk", "cnn.com", "aljazeera.com", "abcnews.go.com", "rte.ie",
           "huffingtonpost.com", "reuters.com", "apnews.com"]
START = datetime(2026, 11, 25, 7, 0, tzinfo=timezone.utc)


def corpus() -> tuple[list[str], list[str]]:
    """(headlines, body sentences) of the real samples."""
    csv.field_size_limit(1 << 24)
    rows = []
    for path in SAMPLES:
        with open(path, newline="", encoding="utf-8") as fh:
            rows += [(r["title"], r["text"]) for r in csv.DictReader(fh)]
    sentences = [s for _, text in rows for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) >= 6]
    return [t for t, _ in rows if t], sentences


def synthetic(n: int, seed: int = 7, per_day: float | None = None) -> list[ArticleRecord]:
    """`n` articles; with `per_day`, events start over n / per_day days, else all within 48 hours."""
    rng = random.Random(seed)
    starts = max(36.0, 24.0 * n / per_day - 12.0) if per_day else 36.0  # hours over which events start
    titles, sentences = corpus()
    vocabulary = [w for s in sentences for w in s.split()]
    articles: list[ArticleRecord] = []
    while len(articles) < n:
        size = rng.choice([1, 1, 1, 1, 1, 2, 2, 3, 4, 6])
        names = [_name(rng) for _ in range(3)]
        headline, lede = rng.choice(titles).split(), rng.choice(sentences)
        at = START + timedelta(hours=rng.uniform(0, starts))
        for _ in range(min(size, n - len(articles))):
            articles.append(_article(rng, len(articles) + 1, names, headline, lede, vocabulary, at))
    return articles


def _article(rng, i, names, headline, lede, vocabulary, at) -> ArticleRecord:
    title = " ".join([w for w in headline if rng.random() > 0.3] + rng.sample(names, 2))
    lead = " ".join([lede, *names] + rng.sample(vocabulary, rng.randint(60, 120)))
    return ArticleRecord(id=i, url=f"https://example.com/{i}", title=title, summary=" ".join(rng.sample(vocabulary, 20)),
                         source=rng.choice(OUTLETS), published_at=at + timedelta(hours=rng.uniform(0, 12)),
                         lead=lead[:800])


def _name(rng) -> str:
    return "".join(rng.choice(["ka", "lo", "mir", "zan", "ve", "tor", "shi", "ru", "den", "pa"]) for _ in range(3)).title()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threshold", type=float, default=StoryParams().threshold)
    parser.add_argument("--per-day", type=float, default=300.0, help="articles a day (default 300)")
    parser.add_argument("--one-window", action="store_true", help="all articles within 48 hours (the former default)")
    args = parser.parse_args(argv)
    articles = synthetic(args.n, per_day=None if args.one_window else args.per_day)
    params = StoryParams(threshold=args.threshold)
    times, cpu, stories = [], [], []
    for _ in range(args.repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        stories = group_stories(articles, params=params)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    multi = sum(1 for s in stories if len(s.articles) > 1)
    days = (max(a.published_at for a in articles) - min(a.published_at for a in articles)).total_seconds() / 86400
    print(f"clustered {len(articles)} articles into {len(stories)} stories ({multi} with 2+ articles) "
          f"in {statistics.median(times):.2f} s (median of {args.repeat}; best {min(times):.2f} s; "
          f"CPU {statistics.median(cpu):.2f} s; threshold {args.threshold}; "
          f"{'one 48 h window' if args.one_window else f'{args.per_day:g} a day over {days:.1f} days'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
