"""The console's feeds (/admin/feeds): each feed's last poll and articles per day (counted by host), polled from
a local HTTP server (pytest-httpserver); an editor adds (the checks of `digest feeds add`), pauses (every poll
skips it), resumes and removes; a viewer only looks. `digest feeds pause` and `resume` do the same."""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from email.utils import format_datetime

import pytest

from digest import store
from digest.ingest.load import poll_job
from digest.operations import feeds as feed_ops
from tests import test_admin
from tests.conftest import NOW
from tests.factories import article
from tests.test_admin import add, login
from tests.test_cli import Digest, one_error

pytestmark = pytest.mark.store
client, clock, quick_hashes = test_admin.client, test_admin.clock, test_admin.quick_hashes  # its fixtures
try:  # the browser test's fixtures, when Playwright is installed (else that module skips itself on import)
    from tests import test_admin_browser
    served, page = test_admin_browser.served, test_admin_browser.page
except pytest.skip.Exception:
    test_admin_browser = None


def rss(*published) -> bytes:
    """A feed whose items link to a subdomain of the server's host (localhost), published at those times."""
    items = "".join(f"<item><title>Item {i}</title><link>https://news.localhost/a/{i}</link><guid>g{i}</guid>"
                    f"<description>Text {i}.</description><pubDate>{format_datetime(at)}</pubDate></item>"
                    for i, at in enumerate(published, 1))
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Local news</title>'
            f"<link>http://localhost/</link><description>d</description>{items}</channel></rss>").encode()


def as_role(settings, engine, client, role):
    add(settings, engine, f"{role}@example.com", role=role)
    assert login(client, f"{role}@example.com").status_code == 303
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/admin/feeds").text).group(1)


def post(client, path, **data):
    done = client.post(path, data=data)
    if done.status_code != 303:
        return done
    return client.get(done.headers["location"].removeprefix("/digest"))


def polled(settings, engine, at=NOW):
    return feed_ops.poll_feeds(settings, now=at, engine=engine)


def test_the_page_shows_each_feeds_last_poll_and_its_articles_per_day(settings, engine, client, httpserver):
    yesterday = NOW - timedelta(days=1)
    httpserver.expect_request("/feed.xml").respond_with_data(
        rss(yesterday, yesterday + timedelta(hours=2), NOW - timedelta(hours=1), NOW - timedelta(days=9)),
        content_type="application/rss+xml")
    httpserver.expect_request("/gone.xml").respond_with_data("nope", status=404)
    feed, gone = httpserver.url_for("/feed.xml"), httpserver.url_for("/gone.xml").replace("localhost", "127.0.0.1")
    csrf = as_role(settings, engine, client, "editor")
    for url in (feed, gone):
        assert post(client, "/admin/feeds/add", csrf=csrf, url=url, topics="news; local").status_code == 200
    with store.session_scope(engine) as session:  # another site's article: not this feed's
        store.articles.upsert_articles(session, articles=[article(1, yesterday)], now=NOW)
    assert [p.status for p in polled(settings, engine)] == ["ok", "error"]
    doc = client.get("/admin/feeds.json").json()
    days = doc["days"]
    assert len(days) == 7 and days[-1] == NOW.date().isoformat() and doc["counted_by"] == "host"
    ok, bad = doc["feeds"]
    assert (ok["url"], ok["status"], ok["http_status"], ok["topics"]) == (feed, "ok", 200, ["news", "local"])
    assert ok["last_fetch_at"].startswith(NOW.strftime("%Y-%m-%dT%H:%M")) and ok["last_result"].startswith("4 new")
    expected = dict.fromkeys(days, 0) | {yesterday.date().isoformat(): 2, NOW.date().isoformat(): 1}
    assert ok["articles_per_day"] == expected  # the item of nine days ago is older than the week shown
    assert bad["status"] == "error" and bad["last_error"].endswith("HTTP 404 NOT FOUND") and bad["http_status"] is None
    assert set(bad["articles_per_day"].values()) == {0}  # 127.0.0.1: not the items' host
    page = client.get("/admin/feeds").text
    assert "HTTP 404 NOT FOUND" in page and "counted by host" in page and "Add a feed" in page
    assert f'aria-label="Pause {feed}"' in page


def test_a_viewer_sees_the_feeds_but_cannot_change_them(settings, engine, client):
    feed_ops.add_feed(settings, "https://example.com/feed.xml", now=NOW, engine=engine)
    csrf = as_role(settings, engine, client, "viewer")
    page = client.get("/admin/feeds")
    assert page.status_code == 200 and "https://example.com/feed.xml" in page.text.replace("<wbr>", "")
    assert "Add a feed" not in page.text and "Pause" not in page.text
    for action in ("add", "pause", "resume", "remove"):
        refused = client.post(f"/admin/feeds/{action}", data={"csrf": csrf, "url": "https://example.com/feed.xml"})
        assert refused.status_code == 403, action
    assert [f["paused_at"] for f in client.get("/admin/feeds.json").json()["feeds"]] == [None]


def test_adding_a_bad_url_is_one_line_on_the_page_and_adds_nothing(settings, engine, client, tmp_path, monkeypatch):
    csrf = as_role(settings, engine, client, "editor")
    assert client.post("/admin/feeds/add", data={"url": "https://example.com/x.xml"}).status_code == 403  # no CSRF
    refused = post(client, "/admin/feeds/add", csrf=csrf, url="ftp://example.com/feed", topics="news")
    assert refused.status_code == 400
    (line,) = re.findall(r'<p class="notice error" role="alert">([^<]*)</p>', refused.text)
    assert line == "feeds add: not an http(s) URL: &#39;ftp://example.com/feed&#39;"
    assert 'value="ftp://example.com/feed"' in refused.text and 'value="news"' in refused.text  # kept to correct
    assert client.get("/admin/feeds.json").json()["feeds"] == []
    monkeypatch.chdir(tmp_path)  # the same check from the command line
    one_error(Digest(tmp_path, settings.store.url)("feeds", "add", "ftp://example.com/feed"), "not an http(s) URL")


def test_a_paused_feed_is_skipped_by_every_poll_until_resumed_then_removed(settings, engine, client, httpserver,
                                                                           clock):
    httpserver.expect_request("/feed.xml").respond_with_data(rss(NOW - timedelta(hours=2)),
                                                             content_type="application/rss+xml")
    url = httpserver.url_for("/feed.xml")
    csrf = as_role(settings, engine, client, "editor")
    assert "added " + url in post(client, "/admin/feeds/add", csrf=csrf, url=url).text
    assert f"paused {url}" in post(client, "/admin/feeds/pause", csrf=csrf, url=url).text
    assert "was paused already" in post(client, "/admin/feeds/pause", csrf=csrf, url=url).text
    assert polled(settings, engine) == [] and poll_job(engine, settings, clock)() == []
    assert httpserver.log == []
    (feed,) = client.get("/admin/feeds.json").json()["feeds"]
    assert feed["paused_at"].startswith(NOW.strftime("%Y-%m-%dT%H:%M")) and feed["last_fetch_at"] is None
    page = client.get("/admin/feeds").text
    assert "<strong>paused</strong>" in page and f'aria-label="Resume {url}"' in page
    assert f"resumed {url}" in post(client, "/admin/feeds/resume", csrf=csrf, url=url).text
    assert [p.status for p in polled(settings, engine)] == ["ok"] and len(httpserver.log) == 1
    assert f"removed {url}" in post(client, "/admin/feeds/remove", csrf=csrf, url=url).text
    assert client.get("/admin/feeds.json").json()["feeds"] == []
    again = post(client, "/admin/feeds/remove", csrf=csrf, url=url)
    assert again.status_code == 400 and f"no feed {url} (see `digest feeds list`)" in again.text


def test_digest_feeds_pause_and_resume(settings, engine, httpserver, tmp_path, monkeypatch):
    httpserver.expect_request("/feed.xml").respond_with_data(rss(NOW), content_type="application/rss+xml")
    url = httpserver.url_for("/feed.xml")
    monkeypatch.chdir(tmp_path)
    digest = Digest(tmp_path, settings.store.url)
    assert digest("feeds", "add", url).exit_code == 0
    paused = digest("feeds", "pause", url)
    assert paused.exit_code == 0 and paused.stdout.strip() == f"paused {url}"
    assert re.search(r"  new  paused since \d{4}-\d\d-\d\d \d\d:\d\dZ  last fetch never", digest("feeds", "list").stdout)
    assert digest.json("feeds", "list")[0]["paused_at"]
    polls = digest("feeds", "poll")
    assert polls.exit_code == 0 and httpserver.log == []
    assert digest("feeds", "resume", url).stdout.strip() == f"resumed {url}"
    assert digest("feeds", "resume", url).stdout.strip() == f"{url} was not paused"
    assert f"{url}: ok 1 new" in digest("feeds", "poll").stdout and len(httpserver.log) == 1
    assert digest.json("feeds", "list")[0]["paused_at"] is None
    one_error(digest("feeds", "pause", "https://example.com/none.xml"), "no feed https://example.com/none.xml")


@pytest.mark.skipif(test_admin_browser is None or shutil.which(test_admin_browser.CHROMIUM) is None,
                    reason="Playwright or Debian's chromium is missing")
def test_in_a_browser_an_editor_adds_a_feed_is_told_why_not_then_pauses_it(page, served, settings, engine):
    from digest.operations import admin as admin_ops

    admin_ops.add_user(settings, "editor@example.com", role="editor", password=test_admin_browser.PASSWORD, now=NOW,
                       engine=engine)
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(served.url + "/digest/admin/login")
    page.get_by_label("Email address").fill("editor@example.com")
    page.get_by_label("Password").fill(test_admin_browser.PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Feeds").click()
    page.get_by_label("Feed URL").fill("ftp://example.com/feed.xml")
    page.get_by_role("button", name="Add").click()
    assert page.get_by_role("alert").inner_text() == "feeds add: not an http(s) URL: 'ftp://example.com/feed.xml'"
    page.get_by_label("Feed URL").fill("https://feeds.example.com/a-rather-long-path/world-news.xml")
    page.get_by_label("Topics").fill("news; world")
    page.get_by_role("button", name="Add").click()
    assert page.get_by_role("status").inner_text() == "added https://feeds.example.com/a-rather-long-path/world-news.xml"
    page.get_by_role("button", name="Pause https://feeds.example.com/a-rather-long-path/world-news.xml").click()
    assert page.get_by_role("status").inner_text().startswith("paused ")
    assert page.get_by_role("button", name=re.compile("^Resume ")).count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # usable at 390 px: no sideways scroll
