"""Fetching over real HTTP on loopback (pytest-httpserver): conditional GET, limits, errors, registered feeds."""

from __future__ import annotations

import gzip
import socket
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from werkzeug import Request, Response

from digest import store
from digest.errors import InputError
from digest.ingest.fetch import fetch
from digest.ingest.sources import SourceOptions
from digest.models import FeedStatus
from digest.ingest.load import ingest_sources, poll_feeds
from tests.test_ingest_cli import Digest

FEEDS = Path(__file__).parent / "data" / "feeds"
NOW = datetime(2025, 7, 13, 9, 0, tzinfo=timezone.utc)
RSS = (FEEDS / "rss20.xml").read_bytes()
ETAG = '"v1-abc"'
MODIFIED = "Sun, 13 Jul 2025 06:00:00 GMT"


@pytest.fixture
def fast(settings):
    return replace(settings, feeds=replace(settings.feeds, timeout=1.0, max_bytes=64 * 1024))


def conditional(request: Request) -> Response:
    """Serves the RSS fixture with validators; 304 when the client sends them back."""
    if request.headers.get("If-None-Match") == ETAG or request.headers.get("If-Modified-Since") == MODIFIED:
        return Response(status=304, headers={"ETag": ETAG})
    return Response(RSS, content_type="application/rss+xml; charset=utf-8",
                    headers={"ETag": ETAG, "Last-Modified": MODIFIED})


def test_fetch_sends_a_descriptive_user_agent_and_honours_validators(httpserver, fast):
    httpserver.expect_request("/feed.xml").respond_with_handler(conditional)
    url = httpserver.url_for("/feed.xml")
    first = fetch(url, fast.feeds)
    assert first.status == 200 and first.body == RSS and first.etag == ETAG and first.last_modified == MODIFIED
    assert fetch(url, fast.feeds, etag=ETAG).not_modified
    assert fetch(url, fast.feeds, last_modified=MODIFIED).not_modified
    [request, *_] = [r for r, _ in httpserver.log]
    assert request.headers["User-Agent"] == fast.feeds.user_agent
    assert "rss+xml" in request.headers["Accept"]


@pytest.mark.store
def test_registered_feeds_are_polled_with_conditional_get(httpserver, fast, engine):
    httpserver.expect_request("/feed.xml").respond_with_handler(conditional)
    url = httpserver.url_for("/feed.xml")
    with store.session_scope(engine) as session:
        store.feeds.add_feed(session, url=url, topics=["news"], country="Portugal", now=NOW)
    [first] = poll_feeds(engine, fast, NOW)
    assert first.status == FeedStatus.ok and first.result == "3 new, 0 updated, 0 unchanged, 0 rejected"
    [second] = poll_feeds(engine, fast, NOW + timedelta(minutes=30))
    assert second.status == FeedStatus.not_modified
    assert [r.headers.get("If-None-Match") for r, _ in httpserver.log] == [None, ETAG]
    assert httpserver.log[1][0].headers.get("If-Modified-Since") == MODIFIED
    with store.read_session(engine) as session:
        [feed] = store.feeds.list_feeds(session)
        articles = store.articles.list_articles(session)
    assert feed.status == FeedStatus.not_modified and feed.http_status == 304 and feed.etag == ETAG
    assert feed.last_fetch_at == NOW + timedelta(minutes=30) and feed.last_result.startswith("3 new")
    assert all(a.country == "Portugal" and "news" in a.topics for a in articles)


@pytest.mark.store
def test_a_failing_feed_records_its_error_and_the_others_still_poll(httpserver, fast, engine):
    httpserver.expect_request("/gone.xml").respond_with_data("nope", status=404)
    httpserver.expect_request("/page.html").respond_with_data((FEEDS / "article.html").read_bytes(),
                                                              content_type="text/html")
    httpserver.expect_request("/ok.xml").respond_with_data(RSS, content_type="application/rss+xml")
    with store.session_scope(engine) as session:
        for path in ("/gone.xml", "/page.html", "/ok.xml"):
            store.feeds.add_feed(session, url=httpserver.url_for(path), topics=[], country=None, now=NOW)
    gone, page, ok = poll_feeds(engine, fast, NOW)
    assert gone.status == FeedStatus.error and gone.error.endswith("/gone.xml: HTTP 404 NOT FOUND")
    assert page.status == FeedStatus.error and "not an RSS or Atom feed (it looks like html)" in page.error
    assert ok.status == FeedStatus.ok
    with store.read_session(engine) as session:
        feeds = {f.url.rsplit("/", 1)[1]: f for f in store.feeds.list_feeds(session)}
    assert feeds["gone.xml"].last_error.endswith("HTTP 404 NOT FOUND") and feeds["gone.xml"].status == "error"


def _fails(url: str, settings, needle: str) -> None:
    with pytest.raises(InputError) as info:
        fetch(url, settings.feeds)
    message = str(info.value)
    assert len(message.splitlines()) == 1 and message.startswith(url) and needle in message, message


def test_http_errors_are_one_line(httpserver, fast):
    httpserver.expect_request("/500").respond_with_data("boom", status=500)
    httpserver.expect_request("/loop").respond_with_data("", status=302, headers={"Location": "/loop"})
    httpserver.expect_request("/ftp").respond_with_data("", status=302, headers={"Location": "ftp://x.example/f"})
    _fails(httpserver.url_for("/500"), fast, "HTTP 500 INTERNAL SERVER ERROR")
    _fails(httpserver.url_for("/loop"), fast, "more than 5 redirects")
    _fails(httpserver.url_for("/ftp"), fast, "UnsupportedProtocol")


def test_size_limit_counts_the_decompressed_body(httpserver, fast):
    big = b"<rss>" + b" " * (200 * 1024) + b"</rss>"
    httpserver.expect_request("/big").respond_with_data(big)
    httpserver.expect_request("/bomb").respond_with_data(gzip.compress(big), headers={"Content-Encoding": "gzip"})
    _fails(httpserver.url_for("/big"), fast, "too large")
    _fails(httpserver.url_for("/bomb"), fast, "too large")


def test_a_slow_server_times_out(httpserver, fast):
    def slow(_request):
        time.sleep(1.5)
        return Response(RSS)

    def drip(_request):
        def body():
            for _ in range(12):
                time.sleep(0.15)
                yield b" "
        return Response(body(), content_type="application/rss+xml")

    httpserver.expect_request("/slow").respond_with_handler(slow)
    httpserver.expect_request("/drip").respond_with_handler(drip)
    _fails(httpserver.url_for("/slow"), fast, "timed out after 1 s")
    _fails(httpserver.url_for("/drip"), fast, "timed out after 1 s")  # each read is quick; the whole is not


def test_connection_refused_is_one_line(fast):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _fails(f"http://127.0.0.1:{port}/feed.xml", fast, "cannot connect")


@pytest.mark.store
def test_ingest_urls_from_the_command_line(httpserver, tmp_path, store_url):
    httpserver.expect_request("/feed.xml").respond_with_data(RSS, content_type="application/rss+xml")
    httpserver.expect_request("/story").respond_with_data((FEEDS / "article.html").read_bytes(),
                                                          content_type="text/html; charset=utf-8")
    httpserver.expect_request("/missing").respond_with_data("", status=404)
    digest = Digest(tmp_path, store_url)
    result = digest("ingest", httpserver.url_for("/feed.xml"), httpserver.url_for("/story"),
                    httpserver.url_for("/missing"))
    assert result.exit_code == 1
    assert digest.counts(result) == (4, 0, 0, 0)
    assert result.stderr.splitlines() == [f"error: {httpserver.url_for('/missing')}: HTTP 404 NOT FOUND"]
    again = digest("ingest", httpserver.url_for("/feed.xml"), httpserver.url_for("/story"))
    assert again.exit_code == 0 and digest.counts(again) == (0, 0, 4, 0)


@pytest.mark.store
def test_feeds_poll_and_list_from_the_command_line(httpserver, tmp_path, store_url):
    httpserver.expect_request("/feed.xml").respond_with_handler(conditional)
    httpserver.expect_request("/down.xml").respond_with_data("", status=503)
    digest = Digest(tmp_path, store_url)
    for path in ("/feed.xml", "/down.xml"):
        assert digest("feeds", "add", httpserver.url_for(path)).exit_code == 0
    polled = digest("feeds", "poll")
    assert polled.exit_code == 1
    assert f"{httpserver.url_for('/feed.xml')}: ok 3 new, 0 updated, 0 unchanged, 0 rejected" in polled.stdout
    listed = digest("feeds", "list").stdout
    assert "ok  last fetch" in listed and "HTTP 503 SERVICE UNAVAILABLE" in listed
    assert "not_modified" in digest("feeds", "poll").stdout


@pytest.mark.store
def test_ingest_sources_uses_the_redirected_address_for_pages(httpserver, fast, engine):
    httpserver.expect_request("/old").respond_with_data("", status=301, headers={"Location": "/new"})
    httpserver.expect_request("/new").respond_with_data(b"A headline for the text page\n\nA paragraph of text.",
                                                        content_type="text/plain")
    report = ingest_sources(engine, fast, [httpserver.url_for("/old")], options=SourceOptions(now=NOW))
    assert report.ok and report.counts["new"] == 1
    with store.read_session(engine) as session:
        [article] = store.articles.list_articles(session)
    assert article.url == httpserver.url_for("/new") and article.title == "A headline for the text page"


@pytest.mark.store
def test_the_daemon_job_polls_and_never_raises(httpserver, fast, engine, tmp_path, backend, request):
    from digest.ingest.load import poll_job

    httpserver.expect_request("/feed.xml").respond_with_data(RSS, content_type="application/rss+xml")
    with store.session_scope(engine) as session:
        store.feeds.add_feed(session, url=httpserver.url_for("/feed.xml"), topics=[], country=None, now=NOW)
    [poll] = poll_job(engine, fast, lambda: NOW)()
    assert poll.status == FeedStatus.ok
    if backend == "sqlite":
        broken = store.open_engine(f"sqlite:///{tmp_path / 'other.db'}")
        broken.dispose()
        (tmp_path / "other.db").unlink()
        (tmp_path / "other.db").mkdir()  # the store cannot be opened: logged, not raised
    else:
        from sqlalchemy import create_engine

        broken = create_engine(request.getfixturevalue("postgres_server").url("absent"))  # no such database
    assert poll_job(broken, fast, lambda: NOW)() == []
