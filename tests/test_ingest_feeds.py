"""RSS and Atom fixtures of real-world shapes, parsed item by item; format detection by content."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from digest.ingest.article import unsafe_field
from digest.ingest.detect import detect_format
from digest.ingest.sources import SourceOptions, parse_document
from tests.conftest import SHARED

FEEDS = Path(__file__).parent / "data" / "feeds"
NOW = datetime(2025, 7, 13, 9, 0, tzinfo=timezone.utc)
UTC = timezone.utc


def parse(name: str, **kw):
    path = FEEDS / name
    return parse_document(str(path), path.read_bytes(), SourceOptions(now=NOW, **kw))


def by_title(batch):
    return {a.title: a for a in batch.articles}


def test_rss_2_0():
    batch = parse("rss20.xml")
    assert batch.rejected == ()
    floods, rates, derby = batch.articles
    assert floods.title == "Floods close roads across the north"
    assert floods.url == "https://www.example-times.com/world/floods-close-roads"  # tracking and fragment gone
    assert floods.guid == "https://www.example-times.com/world#ET-2025-0713-001"  # a bare guid is scoped to its feed
    assert floods.summary == "Heavy rain closed dozens of roads overnight."
    assert floods.body.startswith("<p>Heavy rain closed dozens of roads overnight, officials said.</p>")
    assert 'rel="noopener noreferrer"' in floods.body
    assert floods.author == "Ana Lima" and floods.source == "The Example Times - World"
    assert floods.topics == ["world", "weather"]
    assert floods.image_url == "https://img.example-times.com/floods.jpg"  # media:content
    assert floods.published_at == datetime(2025, 7, 13, 4, 30, tzinfo=UTC)
    assert rates.image_url == "https://img.example-times.com/bank.png"  # enclosure
    assert rates.published_at == datetime(2025, 7, 12, 21, 27, tzinfo=UTC)  # "IST" read as India, not Ireland or UTC
    assert rates.summary == "The bank kept its main rate at 4.25%."
    assert derby.published_at == datetime(2025, 7, 13, 1, 15, tzinfo=UTC)  # day-first, no zone: the default (UTC)


def test_a_date_without_a_zone_uses_the_configured_default():
    from zoneinfo import ZoneInfo

    derby = by_title(parse("rss20.xml", default_tz=ZoneInfo("Europe/London")))["Match report: late goal settles derby"]
    assert derby.published_at == datetime(2025, 7, 13, 0, 15, tzinfo=UTC)


def test_atom_1_0():
    batch = parse("atom10.xml")
    assert batch.rejected == ()
    telescope, notes = batch.articles
    assert telescope.title == "New telescope images distant galaxy"  # HTML in the title is dropped, text kept
    assert telescope.url == "https://science.example.org/2025/07/telescope"
    assert telescope.guid == "tag:science.example.org,2025:post-101"
    assert telescope.summary == "The instrument captured light from 13 billion years ago."
    assert "<p>Astronomers say the data will take months to analyse.</p>" in telescope.body
    assert telescope.author == "Dr. Sam Okoye" and telescope.topics == ["space", "astronomy"]
    assert telescope.image_url == "https://science.example.org/img/galaxy.jpg"
    assert telescope.published_at == datetime(2025, 7, 12, 16, 0, tzinfo=UTC)
    assert telescope.updated_at == datetime(2025, 7, 13, 7, 45, tzinfo=UTC)
    assert notes.url == "https://science.example.org/2025/07/lab-notes"  # relative link resolved against the site
    assert notes.published_at == datetime(2025, 7, 11, 9, 0, tzinfo=UTC)  # only <updated>: it stands in


def test_rss_1_0_rdf():
    batch = parse("rss10.rdf")
    assert batch.rejected == ()
    first, second = batch.articles
    assert first.title == "Open source project reaches 1.0" and first.author == "timothy"
    assert first.topics == ["technology"] and first.source == "Slash Example"
    assert first.published_at == datetime(2025, 7, 13, 4, 10, tzinfo=UTC)
    assert second.url == "https://slash.example.net/story/25/07/13/2"


def test_cdata_and_entities():
    articles = by_title(parse("cdata-entities.xml"))
    art = articles["Art & Design: the “New” wave — reviewed"]
    assert art.source == "Café & Culture"
    assert art.summary == "Critics call it “bold” — and loud."
    assert art.published_at == datetime(2025, 7, 13, 1, 0, tzinfo=UTC)  # EST
    cafe = articles["Café society … returns"]
    assert cafe.summary == "Tea & cake, “quoted” — double escaped"
    assert cafe.published_at == datetime(2025, 7, 12, 20, 0, tzinfo=UTC)  # CET


def test_windows_1252():
    [article] = parse("windows-1252.xml").articles
    assert article.title == "“Cafés” de Paris – une enquête"
    assert article.summary == "L’été des cafés … naïveté et crème brûlée."
    assert article.topics == ["société"]


def test_hostile_html_is_sanitized_and_a_script_link_is_rejected():
    batch = parse("hostile.xml")
    articles = by_title(batch)
    assert set(articles) == {"Script in title", "Image with a script URL"}
    hostile = articles["Script in title"]
    assert hostile.source == "Hostile Feed"
    assert '<a href="https://safe.example.com/page" rel="noopener noreferrer">safe link</a>' in hostile.body
    for bad in ("<script", "onerror", "onclick", "onload", "javascript:", "data:", "<iframe", "<form", "<svg",
                "<style", "expression(", "<object", "<embed", "pixel.example.com", "feedburner"):
        assert bad not in hostile.body.lower(), bad
    assert articles["Image with a script URL"].image_url is None
    [rejected] = batch.rejected
    assert rejected.position == "item 3" and rejected.line == 26 and "javascript:" in rejected.reason
    assert all(unsafe_field(a) is None for a in batch.articles)


def test_truncated_feed_keeps_whole_items_and_rejects_the_cut_one():
    batch = parse("truncated.xml")
    assert [a.title for a in batch.articles] == ["Floods close roads across the north"]
    [rejected] = batch.rejected
    assert rejected.position == "item 2" and "cut off" in rejected.reason
    assert str(rejected).startswith(f"{FEEDS / 'truncated.xml'}:23: item 2: ")


def test_each_broken_item_is_rejected_on_its_own():
    batch = parse("broken-items.xml")
    assert sorted(a.title for a in batch.articles) == ["Date nobody can read", "Fine item", "Undated but fine"]
    reasons = {r.position: r.reason for r in batch.rejected}
    assert reasons == {"item 2": "url: missing", "item 3": "title: missing"}
    undated = by_title(batch)["Undated but fine"]
    assert undated.published_at == NOW  # first seen


def test_gigantic_items_and_titles_are_rejected():
    body = "<p>" + "x" * 2_100_000 + "</p>"
    feed = (f'<rss version="2.0"><channel><title>Big</title><item><title>Huge</title><link>https://e.example/1</link>'
            f'<description><![CDATA[{body}]]></description></item><item><title>{"word " * 400}</title>'
            f'<link>https://e.example/2</link></item><item><title>Small</title><link>https://e.example/3</link>'
            f'</item></channel></rss>').encode()
    batch = parse_document("big.xml", feed, SourceOptions(now=NOW))
    assert [a.title for a in batch.articles] == ["Small"]
    assert [r.reason.split(":")[0] for r in batch.rejected] == ["body", "title"]


def test_forced_format_that_does_not_fit_is_one_rejection():
    batch = parse_document("x.xml", b"just some words", SourceOptions(now=NOW, fmt="rss"))
    assert batch.articles == () and len(batch.rejected) == 1 and batch.rejected[0].position == "feed"


@pytest.mark.parametrize("name, expected", [
    ("rss20.xml", "rss"), ("atom10.xml", "rss"), ("rss10.rdf", "rss"), ("windows-1252.xml", "rss"),
    ("article.html", "html"),
])
def test_detect_format_by_content(name, expected):
    assert detect_format((FEEDS / name).read_bytes()[:8192], name="no-suffix") == expected


def test_detect_format_of_the_shared_files():
    assert detect_format((SHARED / "seed-article.txt").read_bytes(), name="x") == "text"
    assert detect_format((SHARED / "news-articles-2017-02-07_08.csv").read_bytes()[:8192], name="x") == "csv"
    assert detect_format(b'{"url": "https://e.example/1"}\n{"url": "https://e.example/2"}\n') == "jsonl"
    assert detect_format(b'[{"url": "https://e.example/1"}]') == "json"
    assert detect_format(b"Hello, world. This is prose.\nMore prose.") == "text"


@pytest.mark.parametrize("head", [b"title,url\rhttps://e.example/a,b\r", b"Some words here\rand more\n",
                                  b"a\rb", b"x,y,z\r\n1,2,3\r\n"])
def test_detection_reads_any_line_break(head):
    from digest.ingest.detect import detect_format

    assert detect_format(head, name="x") in ("csv", "text")


def test_binary_bytes_are_not_text():
    import gzip
    import random

    from digest.ingest.detect import looks_binary

    assert looks_binary(random.Random(3).randbytes(10_000))
    assert looks_binary(gzip.compress(b"<rss>" + b"x" * 5000 + b"</rss>"))
    assert looks_binary("Feed in UTF-16 with a NUL\x00\x00\x00\x00\x00".encode("utf-16"))
    for text in [(SHARED / "seed-article.txt").read_bytes(), "<rss>é</rss>".encode("utf-16"),
                 "Grüße, \x0c café".encode("cp1252"), b"", b"a\x00" + b"b" * 200]:
        assert not looks_binary(text)
