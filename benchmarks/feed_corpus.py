"""Corpus check: thousands of feed files, well-formed and mutated, through `digest ingest`; no traceback, nothing unsafe.

    .venv/bin/python benchmarks/feed_corpus.py                  # 3,000 feeds (1,000 well-formed, 2,000 mutated)
    .venv/bin/python benchmarks/feed_corpus.py --feeds 300      # quicker

The generator writes RSS 2.0, RSS 1.0 and Atom 1.0 feeds the way real publishers do: UTF-8, Windows-1252,
ISO-8859-1 and UTF-16; CDATA and entities; HTML in titles; dates in RFC 822, ISO 8601, day-first and zone
abbreviations; enclosures and media images; hostile HTML (scripts, handlers, javascript: and data: URLs,
SVG, iframes, forms, style expressions, tracking pixels). The mutator then truncates them, flips bytes,
deletes ranges, splices in hostile markup, undeclared entities and entity bombs, and duplicates items.

Every file goes through the real command line (`digest ingest FILE...` in a subprocess, a few hundred
files per call). The check fails (exit 1) when any call prints a traceback or exits other than 0 or 1, or
when any stored field holds `<script`, an `on…=` handler attribute inside a tag, or `javascript:`.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = re.compile(r"ingested (\d+) new, (\d+) updated, (\d+) unchanged, (\d+) rejected")
UNSAFE = {"<script": re.compile(r"<\s*script", re.I), "on…= handler": re.compile(r"<[^>]*\son[a-z]+\s*=", re.I),
          "javascript:": re.compile(r"javascript:", re.I)}
HOSTILE = [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", '<a href="javascript:alert(1)">x</a>',
    '<a href=" JaVaScRiPt:alert(1)">y</a>', '<img src="javascript:alert(2)">', "<svg onload=alert(3)><script>4</script></svg>",
    '<iframe src="https://evil.example/"></iframe>', '<form action="https://evil.example/"><input name=pw></form>',
    "<style>p{width:expression(alert(5))}</style>", '<p style="width:expression(alert(6))">s</p>',
    '<a href="data:text/html;base64,PHNjcmlwdD4=">d</a>', '<img src="https://t.example/p.gif" width="1" height="1">',
    "&lt;script&gt;alert(7)&lt;/script&gt;", "&amp;lt;img src=x onerror=alert(8)&amp;gt;", '<body onload="x()">',
    "<object data=x.swf></object>", "<math><mi xlink:href='javascript:alert(9)'>m</mi></math>",
    "<scr<script>ipt>alert(10)</script>", "<a href='jav&#x09;ascript:alert(11)'>t</a>",
]
WORDS = ("storm council market election river museum harbour union border vote court energy festival report "
         "café naïve résumé Zürich São Paulo — “quoted” ‘single’ … €20 £5").split()
ZONES = ["GMT", "IST", "EST", "CET", "PDT", "+0530", "-0800", "Z", ""]


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def date_text(rng: random.Random) -> str:
    at = datetime(2025, 7, 1, tzinfo=timezone.utc) + timedelta(minutes=rng.randint(0, 60 * 24 * 30))
    return rng.choice([
        at.strftime("%a, %d %b %Y %H:%M:%S ") + rng.choice(ZONES), at.isoformat(), at.strftime("%d-%m-%Y %H:%M"),
        at.strftime("%Y-%m-%dT%H:%M:%S") + rng.choice(["Z", "+05:30", ""]), at.strftime("%d %B %Y %H:%M IST"),
        "yesterday", "", "2025-13-45T99:99:99Z",
    ])


def html_body(rng: random.Random) -> str:
    parts = [f"<p>{escape(words(rng, rng.randint(5, 30)))}</p>" for _ in range(rng.randint(1, 4))]
    for _ in range(rng.randint(0, 3)):
        parts.insert(rng.randint(0, len(parts)), rng.choice(HOSTILE))
    if rng.random() < 0.3:
        parts.append('<a href="/relative/link">rel</a> <img src="https://cdn.example.com/i.jpg" alt="i">')
    return "".join(parts)


def text_field(rng: random.Random, text: str) -> str:
    """A text element as publishers write it: escaped, in CDATA, or with markup inside."""
    style = rng.random()
    if style < 0.4:
        return escape(text)
    if style < 0.7:
        return f"<![CDATA[{text}]]>"
    return escape(f"<b>{text}</b> {rng.choice(HOSTILE)}")


def rss20_item(rng: random.Random, site: str, i: int) -> str:
    link = f"{site}/story/{i}?utm_source=rss#c" if rng.random() > 0.05 else ""
    extras = []
    if rng.random() < 0.5:
        extras.append(f'<enclosure url="{site}/img/{i}.jpg" type="image/jpeg" length="1000"/>')
    if rng.random() < 0.2:
        extras.append('<enclosure url="javascript:alert(1)" type="image/png"/>')
    if rng.random() < 0.4:
        extras.append(f"<content:encoded><![CDATA[{html_body(rng)}]]></content:encoded>")
    extras += [f"<category>{escape(rng.choice(WORDS))}</category>" for _ in range(rng.randint(0, 3))]
    return (f"<item><title>{text_field(rng, words(rng, rng.randint(0, 9)))}</title><link>{escape(link)}</link>"
            f"<guid isPermaLink='false'>{rng.randint(1, 10**9)}</guid>"
            f"<description>{text_field(rng, html_body(rng))}</description><pubDate>{date_text(rng)}</pubDate>"
            f"<dc:creator>{escape(words(rng, 2))}</dc:creator>{''.join(extras)}</item>\n")


def rss20(rng: random.Random, n: int) -> str:
    site = f"https://site{rng.randint(1, 500)}.example.com"
    items = "".join(rss20_item(rng, site, rng.randint(1, 10**6)) for _ in range(rng.randint(0, 15)))
    return (f'<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
            f'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>{text_field(rng, words(rng, 3))}</title>'
            f"<link>{site}/</link><description>d</description>\n{items}</channel></rss>\n")


def atom(rng: random.Random, n: int) -> str:
    site = f"https://blog{rng.randint(1, 500)}.example.org"
    entries = []
    for _ in range(rng.randint(0, 12)):
        i = rng.randint(1, 10**6)
        href = rng.choice([f"{site}/p/{i}", f"/p/{i}", "javascript:alert(1)"]) if rng.random() < 0.2 else f"{site}/p/{i}"
        entries.append(
            f'<entry><title type="html">{escape(words(rng, rng.randint(1, 8)) + rng.choice(["", " <em>x</em>"]))}</title>'
            f'<link rel="alternate" href="{escape(href)}"/><id>tag:{site[8:]},2025:{i}</id>'
            f"<updated>{date_text(rng)}</updated><author><name>{escape(words(rng, 2))}</name></author>"
            f'<category term="{escape(rng.choice(WORDS))}"/><summary>{escape(words(rng, 12))}</summary>'
            f'<content type="html">{escape(html_body(rng))}</content></entry>\n')
    return (f'<feed xmlns="http://www.w3.org/2005/Atom"><title>{escape(words(rng, 3))}</title>'
            f'<link href="{site}/"/><id>tag:{site[8:]},2025:feed</id><updated>2025-07-13T00:00:00Z</updated>\n'
            f'{"".join(entries)}</feed>\n')


def rss10(rng: random.Random, n: int) -> str:
    site = f"https://rdf{rng.randint(1, 500)}.example.net"
    items = "".join(
        f'<item rdf:about="{site}/{i}"><title>{text_field(rng, words(rng, 6))}</title><link>{site}/{i}</link>'
        f"<description>{text_field(rng, html_body(rng))}</description><dc:date>{date_text(rng)}</dc:date></item>\n"
        for i in (rng.randint(1, 10**6) for _ in range(rng.randint(0, 10))))
    return ('<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f'<channel rdf:about="{site}/"><title>{escape(words(rng, 2))}</title><link>{site}/</link></channel>\n'
            f"{items}</rdf:RDF>\n")


def encode(rng: random.Random, text: str) -> bytes:
    encoding = rng.choice(["utf-8", "utf-8", "utf-8", "windows-1252", "iso-8859-1", "utf-16"])
    declared = encoding if rng.random() > 0.15 else rng.choice(["utf-8", "windows-1252", "bogus-enc"])
    document = f'<?xml version="1.0" encoding="{declared}"?>\n{text}'
    return document.encode(encoding, "xmlcharrefreplace") if encoding != "utf-16" else document.encode("utf-16")


def mutate(rng: random.Random, data: bytes) -> bytes:
    doc = bytearray(data)
    for _ in range(rng.randint(1, 5)):
        where = rng.randint(0, len(doc))
        action = rng.choices(["truncate", "flip", "delete", "hostile", "entity", "duplicate", "bomb", "huge"],
                             weights=[10, 10, 10, 10, 10, 10, 3, 1])[0]
        if action == "truncate":
            del doc[where:]
        elif action == "flip" and doc:
            for _ in range(rng.randint(1, 20)):
                doc[rng.randrange(len(doc))] = rng.randrange(256)
        elif action == "delete":
            del doc[where:where + rng.randint(1, 400)]
        elif action == "hostile":
            doc[where:where] = rng.choice(HOSTILE).encode()
        elif action == "entity":
            doc[where:where] = rng.choice([b"&nbsp;", b"&bogus;", b"&#0;", b"&#xD800;", b"&amp", b"&#99999999;"])
        elif action == "duplicate":
            doc[where:where] = doc[max(0, where - 2000):where]
        elif action == "bomb":
            doc[0:0] = (b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;'
                        b'&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;'
                        b'&c;&c;&c;&c;&c;">]>')
            doc[where:where] = b"&d;&d;&d;"
        else:
            doc[where:where] = b"<p>" + b"x" * rng.randint(100_000, 2_500_000) + b"</p>"
    return bytes(doc)


def write_corpus(root: Path, feeds: int, rng: random.Random) -> tuple[list[Path], int]:
    makers = [rss20, rss20, atom, rss10]
    paths = sorted((ROOT / "tests" / "data" / "feeds").glob("*.*"))
    good = feeds // 3
    for i in range(feeds):
        data = encode(rng, rng.choice(makers)(rng, i))
        if i >= good:
            data = mutate(rng, data)
        path = root / f"feed-{i:05d}.xml"
        path.write_bytes(data)
        paths.append(path)
    return paths, good


def ingest_all(paths: list[Path], db: Path, per_call: int) -> dict[str, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env.update({"DIGEST_STORE_URL": f"sqlite:///{db}", "DIGEST_SCHEDULE_TIMEZONE": "UTC"})
    totals = {"calls": 0, "tracebacks": 0, "bad_exits": 0, "new": 0, "updated": 0, "unchanged": 0, "rejected": 0,
              "source_errors": 0}
    for start in range(0, len(paths), per_call):
        chunk = [str(p) for p in paths[start:start + per_call]]
        result = subprocess.run([sys.executable, "-m", "digest", "ingest", *chunk], env=env, capture_output=True,
                                text=True, cwd=db.parent)
        totals["calls"] += 1
        output = result.stdout + result.stderr
        totals["tracebacks"] += "Traceback" in output or "internal error" in output
        totals["bad_exits"] += result.returncode not in (0, 1)
        totals["source_errors"] += sum(line.startswith("error: ") for line in result.stderr.splitlines())
        match = SUMMARY.search(result.stdout)
        if match:
            for key, value in zip(("new", "updated", "unchanged", "rejected"), map(int, match.groups())):
                totals[key] += value
        else:
            totals["bad_exits"] += 1
            print(output[-2000:], file=sys.stderr)
    return totals


def unsafe_fields(db: Path) -> dict[str, int]:
    hits = dict.fromkeys(UNSAFE, 0)
    columns = ("title", "summary", "body", "source", "author", "location", "country", "topics", "image_url", "url",
               "guid")
    with sqlite3.connect(db) as conn:
        for row in conn.execute(f"SELECT {', '.join(columns)} FROM article"):
            for column, value in zip(columns, row):
                for name, pattern in UNSAFE.items():
                    match = value and pattern.search(str(value))
                    if match:
                        hits[name] += 1
                        start = max(0, match.start() - 60)
                        print(f"unsafe {name} in {column}: …{str(value)[start:match.end() + 60]!r}…", file=sys.stderr)
        count = conn.execute("SELECT COUNT(*) FROM article").fetchone()[0]
    return {**hits, "articles": count}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=3000)
    parser.add_argument("--per-call", type=int, default=300)
    parser.add_argument("--seed", type=int, default=20250713)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="digest-corpus-") as tmp:
        root = Path(tmp)
        paths, good = write_corpus(root, args.feeds, random.Random(args.seed))
        size = sum(p.stat().st_size for p in paths) / 1e6
        started = time.perf_counter()
        totals = ingest_all(paths, root / "corpus.db", args.per_call)
        elapsed = time.perf_counter() - started
        found = unsafe_fields(root / "corpus.db")
    print(f"corpus: {len(paths)} files ({good} generated well-formed, {args.feeds - good} mutated, "
          f"{len(paths) - args.feeds} fixtures), {size:.1f} MB, {totals['calls']} `digest ingest` calls, {elapsed:.0f} s")
    print(f"items: {totals['new']} new, {totals['updated']} updated, {totals['unchanged']} unchanged, "
          f"{totals['rejected']} rejected; {totals['source_errors']} source-level errors (one line each)")
    print(f"tracebacks: {totals['tracebacks']}, bad exit codes: {totals['bad_exits']}")
    print(f"stored articles: {found.pop('articles')}; unsafe fields: "
          + ", ".join(f"{name} {n}" for name, n in found.items()))
    failed = totals["tracebacks"] or totals["bad_exits"] or any(found.values())
    print("FAIL" if failed else "OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
