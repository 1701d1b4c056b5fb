"""Rendering: golden files for the HTML and text parts, inlining, personalization, size and structure guards.

Regenerate the golden files on purpose only: `UPDATE_GOLDEN=1 pytest tests/test_render.py`.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest

from digest.models import ArticleRecord
from digest.render import Personal, Renderer, build_content, personalize, preheader

GOLDEN = Path(__file__).parent / "golden"
CUTOFF = datetime(2026, 11, 27, 7, 0, tzinfo=timezone.utc)


def articles():
    seed = ArticleRecord(1, "https://www.devdiscourse.com/article/headlines/kim-jong-un-backs-russias-stand-on-ukraine",
                         "Kim Jong Un Backs Russia's Stand on Ukraine",
                         "North Korean leader Kim Jong Un reiterated his country's unconditional support for Russia "
                         "in resolving the Ukraine situation.", "Devdiscourse News Desk", CUTOFF - timedelta(hours=4),
                         location="Seoul", country="South Korea", topics=("politics",))
    tricky = ArticleRecord(2, "https://example.com/a?x=1&y=<2>", "Tom & Jerry <script>alert(1)</script> \"quoted\"",
                           "Summary with <b>markup</b> & ampersands.", "Example Times", CUTOFF - timedelta(hours=9),
                           country="United States", image_url="https://example.com/i.jpg")
    other = ArticleRecord(3, "https://www.bbc.co.uk/news/world-1", "Seoul reacts", "Reaction.", "BBC",
                          CUTOFF - timedelta(hours=3))
    return seed, tricky, other


def content(settings, fmt="html"):
    seed, tricky, other = articles()
    return build_content(key="v1", fmt=fmt, edition_key="digest:2026-11-27", period="daily", cutoff=CUTOFF,
                         entries=[("top", seed, [other]), ("trending", tricky, [])], tz=timezone.utc)


PERSON = Personal(name="Zoë <Admin>", unsubscribe_url="https://news.example.com/u/TOKEN?a=1&b=2",
                  preferences_url="https://news.example.com/p/TOKEN", archive_url="https://news.example.com/archive/x/T")


@pytest.fixture
def rendered(settings):
    return Renderer(settings).render_variant(content(settings))


def normalize(text: str) -> str:
    return re.sub(r"[ \t]+\n", "\n", text)


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(actual)
    assert path.exists(), f"missing golden file {path}: run with UPDATE_GOLDEN=1"
    assert normalize(actual) == normalize(path.read_text())


def test_html_golden(rendered):
    _, html = personalize(rendered, PERSON)
    check_golden("digest.html", html)


def test_text_golden(rendered):
    text, _ = personalize(rendered, PERSON)
    check_golden("digest.txt", text)


def test_subject_names_the_lead_story_and_count(rendered):
    assert rendered.subject == "Kim Jong Un Backs Russia's Stand on Ukraine and 1 more | The Daily Digest, Fri 27 Nov"


class Audit(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.style_in_body, self.imgs, self.first_body_child, self.tags = [], False, [], None, []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "style" and "body" in self.stack:
            self.style_in_body = True
        if tag == "img":
            self.imgs.append(dict(attrs))
        if self.stack and self.stack[-1] == "body" and self.first_body_child is None:
            self.first_body_child = (tag, dict(attrs))
        if tag not in ("meta", "img", "br", "link"):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack.pop() != tag:
                pass


def test_html_is_inlined_and_mail_client_safe(rendered):
    _, html = personalize(rendered, PERSON)
    audit = Audit()
    audit.feed(html)
    assert not audit.style_in_body
    head_style = re.search(r"<style[^>]*>(.*?)</style>", html, re.S).group(1)
    assert "@media" in head_style and len(head_style.encode()) < 16 * 1024
    assert "!important" in head_style  # strip_important=False keeps the overrides that make @media work
    assert 'style="' in html and html.count('style="') > 20
    assert audit.first_body_child[1].get("class") == "preheader"
    assert all(img.get("alt") and img.get("width") for img in audit.imgs)
    assert not any(img.get("src", "").startswith("data:") for img in audit.imgs)
    assert '<html lang="en"' in html and '<meta charset="utf-8">' in html
    assert "<title>Kim Jong Un Backs Russia's Stand on Ukraine and 1 more | The Daily Digest, Fri 27 Nov</title>" in html
    assert any(t == "table" and a.get("role") == "presentation" and a.get("width") == "600" for t, a in audit.tags)
    assert len(html.encode()) < 100 * 1024


def test_data_is_escaped_in_html_and_plain_in_text(rendered):
    text, html = personalize(rendered, PERSON)
    sneaky = personalize(rendered, Personal("<b>Eve</b>&", PERSON.unsubscribe_url, PERSON.preferences_url,
                                            PERSON.archive_url))
    assert "Hi &lt;b&gt;Eve&lt;/b&gt;&amp;, here" in sneaky[1] and "Hi <b>Eve</b>&, here" in sneaky[0]
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "Hi Zoë, here is" in html
    assert "https://news.example.com/u/TOKEN?a=1&amp;b=2" in html
    assert "Hi Zoë, here is" in text and "https://news.example.com/u/TOKEN?a=1&b=2" in text
    assert "__DIGEST_" not in html + text


def test_text_part_carries_the_same_stories_links_and_address(rendered, settings):
    text, html = personalize(rendered, PERSON)
    for art in articles():
        assert art.url in text
    for needle in ("Unsubscribe: https://news.example.com/u/TOKEN", settings.sender.postal_address,
                   "View in your browser: https://news.example.com/archive/x/T"):
        assert needle in text
    assert settings.sender.postal_address in html and "Unsubscribe</a>" in html


def test_text_only_variant_has_no_html(settings):
    variant = Renderer(settings).render_variant(content(settings, fmt="text"))
    assert variant.html is None and "TOP STORIES" in variant.text


@pytest.mark.parametrize("titles, lo, hi", [
    (["A short one", "Another headline about something", "Third headline here"], 40, 140),
    (["x" * 300], 1, 140),
])
def test_preheader_length(titles, lo, hi):
    from digest.render import ItemView

    items = [ItemView(t, "u", "s", "m", "A summary that is long enough to pad the preheader text.") for t in titles]
    assert lo <= len(preheader(items)) <= hi


def test_the_renderer_counts_its_own_inlining(settings):
    """Each Renderer counts its CSS inlining runs (one per HTML variant, none for text): no process-wide counter."""
    first, second = Renderer(settings), Renderer(settings)
    first.render_variant(content(settings))
    first.render_variant(content(settings, fmt="text"))
    assert first.inlined == 1 and second.inlined == 0
