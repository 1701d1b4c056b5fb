"""Property: random and mutated documents, fed to every parser, never raise and never store anything unsafe."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from digest import store
from digest.errors import InputError
from digest.ingest.detect import FORMATS
from digest.ingest.sources import SourceOptions, parse_document
from digest.ingest.load import store_batch
from tests.conftest import SHARED

FEEDS = Path(__file__).parent / "data" / "feeds"
NOW = datetime(2025, 7, 13, 9, 0, tzinfo=timezone.utc)
SEEDS = [p.read_bytes() for p in sorted(FEEDS.iterdir())] + [
    (SHARED / "seed-article.txt").read_bytes(),
    (SHARED / "news-articles-2017-02-07_08.csv").read_bytes()[:6000],
    b'{"url": "https://e.example/1", "title": "One", "body": "<p>x</p>"}\n{"url": "https://e.example/2", "title": "Two"}\n',
    b'[{"url": "https://e.example/3", "title": "Three", "summary": "<b>s</b>"}]',
]
HOSTILE = [b"<script>alert(1)</script>", b"<img src=x onerror=alert(1)>", b'<a href="javascript:alert(1)">j</a>',
           b"&lt;script&gt;alert(1)&lt;/script&gt;", b"&amp;lt;img src=x onerror=alert(1)&amp;gt;", b"]]>",
           b"<![CDATA[<script>x</script>", b"&undefined;", b"\x00", b"\xff\xfe", b"\xe9\x93", b"</item>", b"<item>",
           b'<!DOCTYPE x [<!ENTITY a "<script>alert(1)</script>">]>', b"&a;", b"<svg onload=alert(1)>",
           b'<link>javascript:alert(1)</link>', b'<enclosure url="data:image/png;base64,AA" type="image/png"/>',
           b"<title>", b"</title>", b"javascript:alert(1)", b"a < b onclick=alert(1)", b"JaVaScRiPt:void(0)",
           b"<link>https://a<script>alert(1)</script>.example/x</link>", b'<link>https://e.example/"<svg onload=x>', b"<entry>", b'style="x:expression(alert(1))"', b"\r\n\r\n", b"| Updated: 99-99-9999"]
UNSAFE = re.compile(r"<\s*script|<[^>]*\son[a-z]+\s*=|(?:java|vb)script:\S|<[^>]*\sstyle\s*=", re.I)
TEXT_FIELDS = ("title", "summary", "body", "source", "author", "location", "country", "guid")


@st.composite
def mutated(draw) -> bytes:
    doc = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        where = draw(st.integers(0, len(doc)))
        action = draw(st.sampled_from(["insert", "flip", "cut", "delete", "duplicate"]))
        if action == "insert":
            doc[where:where] = draw(st.sampled_from(HOSTILE))
        elif action == "flip" and where < len(doc):
            doc[where] = draw(st.integers(0, 255))
        elif action == "cut":
            del doc[where:]
        elif action == "delete":
            del doc[where:where + draw(st.integers(1, 200))]
        else:
            doc[where:where] = doc[max(0, where - 300):where]
    return bytes(doc)


documents = st.one_of(mutated(), st.binary(max_size=3000),
                      st.text(max_size=2000).map(lambda t: t.encode("utf-8", "surrogatepass")))


def assert_safe(article) -> None:
    for name in TEXT_FIELDS:
        value = getattr(article, name) or ""
        assert not UNSAFE.search(value), (name, value)
    assert article.url.startswith(("http://", "https://")), article.url
    assert article.image_url is None or article.image_url.startswith(("http://", "https://"))
    assert not any(UNSAFE.search(t) for t in article.topics)
    assert article.title and len(article.summary) <= 300
    assert article.published_at.tzinfo is not None and article.published_at.utcoffset().total_seconds() == 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=documents, fmt=st.sampled_from(FORMATS))
def test_no_parser_raises_and_nothing_unsafe_comes_out(data, fmt):
    try:
        batch = parse_document("doc", data, SourceOptions(now=NOW, fmt=fmt, url="https://pages.example/doc"))
    except InputError as exc:  # binary bytes, or a tabular export with a bad row: refused whole, in words
        assert ("binary data" in str(exc) or fmt in ("auto", "csv", "json", "jsonl")) and str(exc)
        return
    for article in batch.articles:
        assert_safe(article)
    for rejected in batch.rejected:
        assert rejected.reason and "\n" not in rejected.reason


@pytest.mark.store
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=mutated())
def test_what_is_stored_is_safe(engine, data):
    try:
        batch = parse_document("doc", data, SourceOptions(now=NOW, url="https://pages.example/doc"))
    except InputError:
        return
    store_batch(engine, batch, now=NOW)
    with store.read_session(engine) as session:
        for article in store.articles.list_articles(session):
            assert_safe(article)
