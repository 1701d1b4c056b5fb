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
    address = "https://www.devdiscourse.com/article/headlines/kim-backs-russia"
    result = digest("ingest", seed, "--url", address)
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
    assert article["url"] == address
    again = digest("ingest", seed, "--url", address)
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
    result = digest("ingest", "--format", "text", text_copy, "--url", "https://e.example/a")
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


def test_junk_is_refused_in_one_line_each_and_the_other_sources_still_go_in(digest):
    import gzip
    import random

    junk = digest.tmp / "junk.bin"
    junk.write_bytes(random.Random(11).randbytes(2_000_000))
    packed = digest.tmp / "feed.xml.gz"  # a feed, but compressed: bytes, not text
    packed.write_bytes(gzip.compress((FEEDS / "rss20.xml").read_bytes()))
    bare_cr = digest.tmp / "notes.txt"  # a bare CR once crashed detection and stopped the sources after it
    bare_cr.write_bytes(b"Minutes of the meeting held today\rpart two of the line\nmore text\n")
    result = digest("ingest", junk, packed, bare_cr, FEEDS / "atom10.xml")
    assert result.exit_code == 1
    assert digest.counts(result)[0] == 2  # atom10.xml's two items, stored after the three bad sources
    lines = result.stderr.splitlines()
    assert lines.count(f"error: {junk}: not a feed, article page, CSV or JSON file (binary data)") == 1
    assert lines.count(f"error: {packed}: not a feed, article page, CSV or JSON file (binary data)") == 1
    assert [line for line in lines if str(bare_cr) in line] == [
        f"rejected: {bare_cr}: page: url: the page names no http(s) address (give it with --url)"]
    assert len(lines) == 3 and "internal error" not in result.output


def test_no_file_url_is_ever_stored_or_mailed(digest):
    page = digest.tmp / "saved-page.txt"
    shutil.copy(SHARED / "seed-article.txt", page)
    html = digest.tmp / "saved.html"
    html.write_text("<html><head><title>Ports reopen</title></head><body><article><h1>Ports reopen</h1>"
                    + "<p>Container ports along the coast reopened on Sunday after the strike ended. " * 5
                    + "</p></article></body></html>")
    feed = digest.tmp / "local.xml"
    from datetime import datetime, timezone
    from email.utils import format_datetime

    date = format_datetime(datetime.now(timezone.utc).replace(hour=1, minute=0))  # in today's edition
    feed.write_text('<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><title>Local one</title>'
                    f'<link>{page.resolve().as_uri()}</link></item><item><title>Web one</title><pubDate>{date}'
                    '</pubDate><link>https://web.example/1</link></item></channel></rss>')
    result = digest("ingest", page, html, feed)
    assert result.exit_code == 1, result.output
    stored = digest.query("SELECT url, guid FROM article") + digest.query("SELECT page_url, title FROM trendingsignal")
    assert stored == [("https://web.example/1", "https://web.example/1")]
    assert digest("subscribers", "add", "reader@example.org").exit_code == 0
    preview = digest("preview", "--subscriber", "reader@example.org", "--format", "eml")
    assert "Web one" in preview.stdout
    assert "file:" not in preview.stdout and str(digest.tmp) not in preview.stdout


def test_a_map_to_a_column_the_file_lacks_names_it(digest):
    result = digest("ingest", NEWS_CSV, "--map", "title=nosuch,url=article_source_link,published=publish_date")
    assert result.exit_code == 1
    assert digest.counts(result) == (0, 0, 0, 0)
    assert result.stderr.splitlines() == [
        f"error: {NEWS_CSV}: --map title=nosuch: no such column (its columns: article_id, publish_date, "
        "article_source_link, title, subtitle, text); nothing was stored"]
    rows = digest.tmp / "rows.jsonl"
    rows.write_text('{"link": "https://e.example/1", "headline": "One"}\n{"link": "https://e.example/2"}\n')
    result = digest("ingest", rows, "--map", "url=link,title=heading")
    assert result.stderr.splitlines() == [
        f"error: {rows}: --map title=heading: no such column (its columns: link, headline); nothing was stored"]


def test_a_json_lines_file_of_one_article_is_read_as_json_lines(digest):
    path = digest.tmp / "one.jsonl"
    path.write_text(json.dumps({"url": "https://site.example/only", "title": "The only story of the day",
                                "published": "2026-12-01T10:00:00Z"}) + "\n")
    result = digest("ingest", path)
    assert result.exit_code == 0, result.output
    assert digest.counts(result) == (1, 0, 0, 0)
    assert "The only story of the day" in digest.articles()
