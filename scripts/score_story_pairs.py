#!/usr/bin/env python3
"""Pairwise precision and recall of the story clustering on the labelled pairs:
`python scripts/score_story_pairs.py [--threshold T] [--linkage average|complete]`.

Three sets, each clustered as the edition would cluster it (all its articles together), then every labelled
pair checked for "same story":
  dev         tests/data/event_pairs.csv, part dev  (Dec 2016 - 10 Feb 2017 without 9 Feb; tuned on)
  held        tests/data/event_pairs.csv, part held (9 Feb 2017; never tuned on)
  story_pairs tests/data/story_pairs.csv            (7-8 Feb 2017, the project's first labelled set)
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from digest.ingest.tabular import load_articles, parse_map  # noqa: E402
from digest.models import ArticleRecord, article_record  # noqa: E402
from digest.stories import StoryParams, group_stories  # noqa: E402

DATA = ROOT / "tests" / "data"
NEWS_MAP = "title=title,url=article_source_link,published=publish_date,summary=subtitle,body=text"
LOADED_AT = datetime(2026, 11, 27, 7, 0, tzinfo=timezone.utc)
SETS = {"dev": ("news-articles-dec2016-feb2017.csv", "event_pairs.csv"),
        "held": ("news-articles-dec2016-feb2017.csv", "event_pairs.csv"),
        "story_pairs": ("news-articles-2017-02-07_08.csv", "story_pairs.csv")}


@dataclass(frozen=True)
class LabelledSet:
    name: str
    articles: tuple[ArticleRecord, ...]  # every article of the set's days, as the edition would see them
    pairs: tuple[tuple[int, int, bool], ...]  # (a_id, b_id, same event)


@lru_cache(maxsize=None)
def articles(csv_name: str) -> dict[int, ArticleRecord]:
    """The sample's articles as records, by the sample's own article_id."""
    path = DATA / csv_name
    csv.field_size_limit(1 << 24)
    with path.open(encoding="utf-8", newline="") as fh:
        ids = {r["article_source_link"]: int(r["article_id"]) for r in csv.DictReader(fh)}
    records = {}
    for a in load_articles(path, mapping=parse_map(NEWS_MAP), now=LOADED_AT):
        a.id = ids[a.guid]
        records[a.id] = article_record(a)
    return records


def _pairs(name: str, pairs_csv: str) -> list[tuple[int, int, bool]]:
    with (DATA / pairs_csv).open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if name == "story_pairs":
        return [(int(r["a_id"]), int(r["b_id"]), r["same"] == "1") for r in rows]
    return [(int(r["a_id"]), int(r["b_id"]), r["label"] == "same") for r in rows if r["part"] == name]


@lru_cache(maxsize=None)
def labelled_set(name: str) -> LabelledSet:
    """The set's pairs and the articles of its days (held: 9 Feb; dev: the other days; story_pairs: 7-8 Feb)."""
    csv_name, pairs_csv = SETS[name]
    pairs = _pairs(name, pairs_csv)
    days = {articles(csv_name)[i].published_at.date() for a, b, _ in pairs for i in (a, b)}
    chosen = tuple(r for r in articles(csv_name).values() if r.published_at.date() in days)
    return LabelledSet(name, chosen, tuple(pairs))


@dataclass(frozen=True)
class Score:
    name: str
    pairs: int
    same: int
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def line(self) -> str:
        return (f"{self.name:<12} {self.pairs:>4} pairs ({self.same:>3} same)  precision {self.precision:.3f}  "
                f"recall {self.recall:.3f}  (false merges {self.fp}, missed {self.fn})")


def score(name: str, params: StoryParams = StoryParams()) -> tuple[Score, list[tuple[int, int, bool]]]:
    """The set's pairwise score when all its articles are clustered together, and the pairs it gets wrong."""
    labelled = labelled_set(name)
    story_of = {a.id: s.key for s in group_stories(labelled.articles, params=params) for a in s.articles}
    joined = [(a, b, same, story_of[a] == story_of[b]) for a, b, same in labelled.pairs]
    tp = sum(1 for *_, same, j in joined if same and j)
    fp = sum(1 for *_, same, j in joined if j and not same)
    fn = sum(1 for *_, same, j in joined if same and not j)
    wrong = [(a, b, same) for a, b, same, j in joined if same != j]
    return Score(name, len(joined), sum(1 for *_, s in labelled.pairs if s), tp, fp, fn), wrong


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=None, help="Override the model's threshold.")
    parser.add_argument("--linkage", choices=("complete", "average"), default=None)
    parser.add_argument("--floor", type=float, default=None, help="Override the model's floor (average linkage).")
    parser.add_argument("--sets", nargs="+", choices=tuple(SETS), default=tuple(SETS))
    parser.add_argument("--wrong", action="store_true", help="List the pairs each set gets wrong.")
    args = parser.parse_args(argv)
    params = StoryParams()
    params = params if args.linkage is None else replace(params, linkage=args.linkage)
    params = params if args.floor is None else replace(params, floor=args.floor)
    params = params if args.threshold is None else replace(params, threshold=args.threshold)
    for name in args.sets:
        result, wrong = score(name, params)
        print(result.line())
        if args.wrong:
            by_id = {a.id: a for a in labelled_set(name).articles}
            for a, b, same in wrong:
                print(f"    {'missed' if same else 'merged'} {a}-{b}: {by_id[a].title[:60]} | {by_id[b].title[:60]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
