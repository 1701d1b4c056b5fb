"""`digest ingest` end to end: the shared CSV, the seed page, feeds, updates, identity and bad input."""

from __future__ import annotations

import gc
import json
import logging
import os
import re
import shutil
import traceback
from pathlib import Path

import pytest
from typer.testing import CliRunner

from digest.cli import app
from tests.conftest import ROOT, SHARED

pytestmark = pytest.mark.store

FEEDS = Path(__file__).parent / "data" / "feeds"
NEWS_CSV = SHARED / "news-articles-2017-02-07_08.csv"
NEWS_MAP = "title=title,url=article_source_link,published=publish_date,summary=subtitle,body=text"
SUMMARY = re.compile(r"^ingested (\d+) new, (\d+) updated, (\d+) unchanged, (\d+) rejected$", re.M)


class Digest:
    """Run the CLI with its own store and a clean DIGEST_* environment; query the store afterwards."""

    def __init__(self, tmp_path: Path, store_url: str) -> None:
        self.tmp, self.url = tmp_path, store_url
        self.env = {k: None for k in os.environ if k.startswith("DIGEST_")}
        self.env.update({"DIGEST_STORE_URL": store_url, "DIGEST_SCHEDULE_TIMEZONE": "UTC",
                         "DIGEST_RENDER_TEMPLATES": str(ROOT / "templates" / "email")})

    def __call__(self, *args, env=None):
        root = logging.getLogger()  # a handler an earlier CliRunner call left on its closed stream
        root.handlers[:] = [h for h in root.handlers if not getattr(getattr(h, "stream", None), "closed", False)]
        result = CliRunner().invoke(app, [str(a) for a in args], env={**self.env, **(env or {})})
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError("uncaught exception:\n" + "".join(traceback.format_exception(result.exception)))
        assert "Traceback" not in result.output
        return result

    def counts(self, result) -> tuple[int, int, int, int]:
        match = SUMMARY.search(result.stdout)
        assert match, result.output
        return tuple(int(n) for n in match.groups())

    def query(self, sql: str):
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        gc.collect()
        engine = create_engine(self.url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                return [tuple(row) for row in conn.execute(text(sql))]
        finally:
            engine.dispose()

    def articles(self) -> dict[str, dict]:
        result = self("articles", "list", "--json")
        assert result.exit_code == 0, result.output
        return {a["title"]: a for a in json.loads(result.stdout)}


@pytest.fixture
def digest(tmp_path, store_url):
    return Digest(tmp_path, store_url)


def test_the_shared_csv_loads_completely_and_a_rerun_changes_nothing(digest):
    first = digest("ingest", NEWS_CSV, "--map", NEWS_MAP)
    assert first.exit_code == 0, first.output
    assert digest.counts(first) == (339, 0, 0, 0)
    before = digest.query("SELECT id, url, content_hash, updated_at FROM article ORDER BY id")
    again = digest("ingest", NEWS_CSV, "--map", NEWS_MAP)
    assert digest.counts(again) == (0, 0, 339, 0)
    assert digest.query("SELECT id, url, content_hash, updated_at FROM article ORDER BY id") == before


def test_the_seed_page(digest):
    seed = SHARED / "seed-article.txt"
    result = digest("ingest", seed)
    assert result.exit_code == 0, result.output
    assert digest.counts(result) == (1, 0, 0, 0)
    article = digest.articles()["Kim Jong Un Backs Russia's Stand on Ukraine"]
    assert (article["source"], article["location"], article["country"]) == ("Devdiscourse News Desk", "Seoul",
                                                                            "South Korea")
    assert article["published_at"] in ("2025-07-12T21:27:00Z", "2025-07-12T21:27:00+00:00")
    assert article["summary"].startswith("North Korean leader Kim Jong Un reiterated")
    assert len(article["body"].split("\n\n")) == 4
    signals = digest.query("SELECT rank, title, region, source FROM trendingsignal ORDER BY rank")
    assert [(r, reg) for r, _t, reg, _s in signals] == [(1, "Global"), (2, "Global"), (3, "Colombia"), (4, "Global")]
    again = digest("ingest", seed)
    assert digest.counts(again) == (0, 0, 1, 0)
    assert len(digest.query("SELECT id FROM trendingsignal")) == 4


def test_feeds_from_files_and_a_rerun_is_a_no_op(digest):
    names = ["rss20.xml", "atom10.xml", "rss10.rdf", "cdata-entities.xml", "windows-1252.xml"]
    result = digest("ingest", *[FEEDS / n for n in names])
    assert result.exit_code == 0, result.output
    assert digest.counts(result) == (10, 0, 0, 0)
    again = digest("ingest", *[FEEDS / n for n in names])
    assert digest.counts(again) == (0, 0, 10, 0) and again.exit_code == 0


def _feed(digest, name: str, items: list[tuple[str, str, str, str]]) -> Path:
    """A small RSS file: items are (guid, link, title, description)."""
    body = "".join(f"<item><guid isPermaLink='false'>{g}</guid><link>{link}</link><title>{t}</title>"
                   f"<description>{d}</description><pubDate>Sat, 12 Jul 2025 10:00:00 GMT</pubDate></item>"
                   for g, link, t, d in items)
    path = digest.tmp / name
    path.write_text(f"<rss version='2.0'><channel><title>Updates</title><link>https://up.example.com/</link>"
                    f"{body}</channel></rss>")
    return path


def test_a_changed_item_is_updated_in_place_and_a_moved_link_follows_its_guid(digest):
    v1 = _feed(digest, "v1.xml", [("a", "https://up.example.com/a", "Alpha", "First version."),
                                  ("b", "https://up.example.com/b", "Beta", "Stays the same.")])
    assert digest.counts(digest("ingest", v1)) == (2, 0, 0, 0)
    ids = dict(digest.query("SELECT url, id FROM article"))
    v2 = _feed(digest, "v2.xml", [("a", "https://up.example.com/a", "Alpha", "Second version, corrected."),
                                  ("b", "https://up.example.com/b-moved?utm_source=rss", "Beta", "Stays the same.")])
    v2.rename(v1)
    assert digest.counts(digest("ingest", v1)) == (0, 2, 0, 0)
    rows = {url: (id_, summary, updated) for id_, url, summary, updated in
            digest.query("SELECT id, url, summary, updated_at FROM article")}
    assert set(rows) == {"https://up.example.com/a", "https://up.example.com/b-moved"}  # no duplicate
    assert rows["https://up.example.com/a"][0] == ids["https://up.example.com/a"]
    assert rows["https://up.example.com/a"][1] == "Second version, corrected."
    assert str(rows["https://up.example.com/a"][2]) > "2026"  # the update time is when we saw the change
    assert rows["https://up.example.com/b-moved"][0] == ids["https://up.example.com/b"]
    assert digest.counts(digest("ingest", v1)) == (0, 0, 2, 0)


def test_bad_items_are_reported_one_per_line_and_the_rest_is_stored(digest):
    result = digest("ingest", FEEDS / "hostile.xml", FEEDS / "broken-items.xml", FEEDS / "truncated.xml",
                    digest.tmp / "missing.xml")
    assert result.exit_code == 1
    assert digest.counts(result) == (6, 0, 0, 4)
    lines = result.stderr.splitlines()
    assert f"rejected: {FEEDS / 'hostile.xml'}:26: item 3: url: not an http(s) URL: " \
           "'javascript:alert(document.domain)'" in lines
    assert f"rejected: {FEEDS / 'broken-items.xml'}:11: item 2: url: missing" in lines
    assert f"rejected: {FEEDS / 'truncated.xml'}:23: item 2: item is cut off (the document ends inside it)" in lines
    assert f"error: {digest.tmp / 'missing.xml'}: no such file" in lines
    assert len(lines) == 5
    stored = digest.query("SELECT title, summary, body, source, author, url, guid, image_url FROM article")
    assert len(stored) == 6
    for row in stored:
        text = " ".join(str(v) for v in row).lower()
        assert "<script" not in text and "javascript:" not in text and not re.search(r"<[^>]*\son\w+\s*=", text)


def test_a_bad_export_row_stores_nothing_from_that_export_but_other_sources_go_in(digest):
    bad = digest.tmp / "bad.jsonl"
    bad.write_text(json.dumps({"url": "https://x.example/1", "title": "Good row"}) + "\n"
                   + json.dumps({"url": "https://x.example/2", "title": "Bad date", "published": "someday"}) + "\n")
    result = digest("ingest", bad, FEEDS / "rss10.rdf")
    assert result.exit_code == 1
    assert digest.counts(result) == (2, 0, 0, 1)
    assert f"error: {bad}:2: published: cannot read date 'someday'; nothing was stored" in result.stderr
    assert sorted(t for (t,) in digest.query("SELECT title FROM article")) == [
        "Ask Slash: favourite editor?", "Open source project reaches 1.0"]


def test_forced_format_and_usage_errors(digest):
    text_copy = digest.tmp / "page.dat"
    shutil.copy(SHARED / "seed-article.txt", text_copy)
    result = digest("ingest", "--format", "text", text_copy)
    assert result.exit_code == 0 and digest.counts(result) == (1, 0, 0, 0)
    assert digest("ingest", "--format", "pdf", text_copy).exit_code == 2
    assert digest("ingest", "--url", "https://e.example/a", text_copy, text_copy).exit_code == 2


def test_feeds_add_and_list(digest):
    added = digest("feeds", "add", "HTTPS://News.Example.com/rss?utm_source=x", "--topics", "World;Politics",
                   "--country", "Kenya")
    assert added.exit_code == 0 and "added https://news.example.com/rss" in added.stdout
    again = digest("feeds", "add", "https://news.example.com/rss", "--topics", "world")
    assert "updated" in again.stdout
    [feed] = json.loads(digest("feeds", "list", "--json").stdout)
    assert feed["url"] == "https://news.example.com/rss" and feed["topics"] == ["world"]
    assert feed["status"] == "new" and feed["last_fetch_at"] is None
    assert "never" in digest("feeds", "list").stdout
    bad = digest("feeds", "add", "javascript:alert(1)")
    assert bad.exit_code == 1 and bad.stderr.startswith("error: feeds add: not an http(s) URL")
    assert digest("feeds", "remove", "https://news.example.com/rss").exit_code == 0
    assert digest("feeds", "remove", "https://news.example.com/rss").exit_code == 1
