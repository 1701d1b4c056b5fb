"""How long same-event clustering takes for N articles: `python benchmarks/stories.py [N] [--repeat R]`.

The articles are synthetic but made of real text: words drawn from the news samples in tests/data with their real frequencies, grouped into events that share a headline, a lead
sentence and a few names of their own, as outlets covering one event do. All are published within 48 hours,
so every pair is inside the clustering window: the worst case for one daily edition. Fixed seed.
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


def synthetic(n: int, seed: int = 7) -> list[ArticleRecord]:
    rng = random.Random(seed)
    titles, sentences = corpus()
    vocabulary = [w for s in sentences for w in s.split()]
    articles: list[ArticleRecord] = []
    while len(articles) < n:
        size = rng.choice([1, 1, 1, 1, 1, 2, 2, 3, 4, 6])
        names = [_name(rng) for _ in range(3)]
        headline, lede = rng.choice(titles).split(), rng.choice(sentences)
        at = START + timedelta(hours=rng.uniform(0, 36))
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
    args = parser.parse_args(argv)
    articles = synthetic(args.n)
    params = StoryParams(threshold=args.threshold)
    times, cpu, stories = [], [], []
    for _ in range(args.repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        stories = group_stories(articles, params=params)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    multi = sum(1 for s in stories if len(s.articles) > 1)
    print(f"clustered {len(articles)} articles into {len(stories)} stories ({multi} with 2+ articles) "
          f"in {statistics.median(times):.2f} s (median of {args.repeat}; best {min(times):.2f} s; "
          f"CPU {statistics.median(cpu):.2f} s; threshold {args.threshold})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
