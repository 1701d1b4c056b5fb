"""Ingest speed: 10,000 generated articles from a CSV export and from an RSS feed, into a fresh SQLite store.

    .venv/bin/python benchmarks/ingest.py                 # 10,000 items each
    .venv/bin/python benchmarks/ingest.py --items 2000    # quicker

Each run goes through the same path as `digest ingest FILE` (read, detect, parse, clean, sanitize, hash,
upsert in one transaction) and prints articles per second for the first load (all new) and for a re-run
(all unchanged). The target is ≥ 2,000 articles/s from CSV.
"""

from __future__ import annotations

import argparse
import csv
import platform
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from xml.sax.saxutils import escape

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from digest import store  # noqa: E402
from digest.config import load_settings  # noqa: E402
from digest.ingest.sources import SourceOptions  # noqa: E402
from digest.ingest.load import ingest_sources  # noqa: E402

START = datetime(2025, 7, 1, tzinfo=timezone.utc)
WORDS = ("government council market storm season report league minister court city river energy school vote price "
         "study hospital coast festival union border rail bank harbour data museum water election").split()


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def paragraphs(rng: random.Random, count: int) -> list[str]:
    return [" ".join(sentence(rng, rng.randint(8, 18)) for _ in range(rng.randint(2, 5))) for _ in range(count)]


def write_csv(path: Path, items: int, rng: random.Random) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["title", "url", "published", "summary", "body", "topics", "country"])
        for i in range(items):
            writer.writerow([sentence(rng, 7)[:-1], f"https://news{i % 20}.example.com/story/{i}?utm_source=feed",
                             (START + timedelta(minutes=7 * i)).isoformat(), sentence(rng, 20),
                             "\n\n".join(paragraphs(rng, 4)), f"{rng.choice(WORDS)};{rng.choice(WORDS)}",
                             rng.choice(["Kenya", "Japan", "Brazil", "Germany"])])


def write_rss(path: Path, items: int, rng: random.Random) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
                 'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>Bench Times</title>'
                 "<link>https://bench.example.com/</link>\n")
        for i in range(items):
            body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs(rng, 4))
            published = (START + timedelta(minutes=7 * i)).strftime("%a, %d %b %Y %H:%M:%S +0000")
            fh.write(f"<item><title>{escape(sentence(rng, 7))}</title><link>https://bench.example.com/s/{i}</link>"
                     f"<guid isPermaLink='false'>bench-{i}</guid><description>{escape(sentence(rng, 20))}"
                     f"</description><content:encoded><![CDATA[{body}]]></content:encoded>"
                     f"<category>{rng.choice(WORDS)}</category><pubDate>{published}</pubDate></item>\n")
        fh.write("</channel></rss>\n")


def timed(settings, source: Path, fmt: str, items: int) -> tuple[float, float]:
    engine = store.open_engine(settings.store.url)
    runs = []
    for _ in range(2):  # first load (all new), then a re-run (all unchanged)
        started = time.perf_counter()
        report = ingest_sources(engine, settings, [str(source)],
                                options=SourceOptions(now=datetime.now(timezone.utc), fmt=fmt))
        runs.append(time.perf_counter() - started)
        assert report.ok, report.failures[:3] or report.rejected[:3]
    assert report.counts["unchanged"] == items, report.summary()
    engine.dispose()
    return items / runs[0], items / runs[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000)
    args = parser.parse_args()
    rng = random.Random(20250713)
    with tempfile.TemporaryDirectory(prefix="digest-bench-") as tmp:
        root = Path(tmp)
        write_csv(root / "articles.csv", args.items, rng)
        write_rss(root / "feed.xml", args.items, rng)
        print(f"machine: {platform.machine()}, {platform.processor() or platform.system()}, "
              f"Python {platform.python_version()}")
        for name, fmt in (("articles.csv", "csv"), ("feed.xml", "rss")):
            settings = load_settings(None, environ={"DIGEST_STORE_URL": f"sqlite:///{root / (fmt + '.db')}"})
            size = (root / name).stat().st_size / 1e6
            new, unchanged = timed(settings, root / name, fmt, args.items)
            print(f"{fmt:>4}: {args.items} items ({size:.1f} MB): {new:,.0f} articles/s new, "
                  f"{unchanged:,.0f} articles/s unchanged (re-run)")


if __name__ == "__main__":
    main()
