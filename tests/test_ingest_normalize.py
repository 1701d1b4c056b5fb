"""Normalising what sources give: canonical URLs, the HTML sanitizer, text, summaries and times."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from digest.ingest.normalize import canonical_url, clean_body, clean_text, derive_summary, parse_time

UTC = timezone.utc
UNSAFE = re.compile(r"<\s*(script|style|iframe|form|svg|object|embed|math)|\son\w+\s*=|javascript:|data:|expression\(",
                    re.I)


# ── canonical URLs ───────────────────────────────────────────────────────────────────────────────────

@pytest.mark.parametrize("raw, expected", [
    ("HTTPS://WWW.Example.COM/World/Story?id=5&utm_source=x&utm_medium=y#top", "https://www.example.com/World/Story?id=5"),
    ("http://example.com", "http://example.com/"),
    ("https://example.com/a?fbclid=1&gclid=2&mc_cid=3&page=2", "https://example.com/a?page=2"),
    ("  https://example.com/a?b=1&a=2  ", "https://example.com/a?b=1&a=2"),
    ("https://example.com/a#section-2", "https://example.com/a"),
])
def test_canonical_url(raw, expected):
    assert canonical_url(raw) == expected


@pytest.mark.parametrize("raw", ["javascript:alert(1)", "data:text/html,x", "ftp://example.com/a", "/relative/path",
                                 "https://", "http://exa mple.com/", "https://ex<script>.com/", "https://example.com/\x00", "http://[::1"])
def test_canonical_url_refuses_what_is_not_a_web_address(raw):
    with pytest.raises(ValueError):
        canonical_url(raw)


# ── the sanitizer ────────────────────────────────────────────────────────────────────────────────────

@pytest.mark.parametrize("hostile", [
    "<p>a<script>alert(1)</script>b</p>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href=" JaVaScRiPt:alert(1)">x</a>',
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    '<img src="javascript:alert(1)">',
    '<svg onload="alert(1)"><script>alert(2)</script></svg>',
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    "<style>p { width: expression(alert(1)) }</style><p>t</p>",
    '<p style="width: expression(alert(1))">t</p>',
    '<iframe src="https://evil.example/"></iframe>',
    '<form action="https://evil.example/"><input name="pw"></form>',
    '<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>',
    '<img src="data:image/svg+xml;base64,PHN2Zz4=">',
    '<object data="x.swf"></object><embed src="x.swf">',
    '<body onload="alert(1)"><p>x</p></body>',
    "<scr<script>ipt>alert(1)</script>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<math><mi xlink:href='javascript:alert(1)'>m</mi></math>",
])
def test_nothing_unsafe_survives_the_body_sanitizer(hostile):
    cleaned = clean_body(hostile)
    assert not UNSAFE.search(cleaned), cleaned
    assert not UNSAFE.search(clean_text(hostile)), clean_text(hostile)


def test_links_get_noopener_and_safe_markup_stays():
    cleaned = clean_body('<p>See <a href="https://example.com/x" target="_blank" class="c">this</a> <b>now</b>.</p>')
    assert cleaned == '<p>See <a href="https://example.com/x" rel="noopener noreferrer">this</a> <b>now</b>.</p>'


def test_tracking_pixels_are_removed_and_real_images_kept():
    body = ('<p>x<img src="https://cdn.example.com/photo.jpg" alt="Photo" width="600">'
            '<img src="https://t.example.com/open.gif" width="1" height="1">'
            '<img src="http://feeds.feedburner.com/~r/Example/~4/abc123">'
            '<img src="https://stats.wp.com/b.gif?v=1"><img src="https://example.com/pixel.gif?u=1"></p>')
    assert clean_body(body) == '<p>x<img src="https://cdn.example.com/photo.jpg" alt="Photo" width="600"></p>'


def test_plain_text_bodies_keep_paragraphs_and_decode_entities():
    assert clean_body("First  para\nline.\n\n\n Second &amp; last. ") == "First para line.\n\nSecond & last."


# ── text ─────────────────────────────────────────────────────────────────────────────────────────────

@pytest.mark.parametrize("raw, expected", [
    ("  Hello <b>World</b>\n\t again ", "Hello World again"),
    ("Caf&eacute; &amp; bar &#8212; &#x2019;s", "Café & bar — ’s"),
    ("&amp;lt;b&amp;gt;double escaped&amp;lt;/b&amp;gt;", "double escaped"),
    ("zero\u200bwidth\x07bell\x00nul", "zerowidthbellnul"),
    ("Cafe\u0301", "Café"),
    ("a < b and c > d", "a < b and c > d"),
    ("<script>alert(1)</script>Title", "Title"),
    (None, ""),
])
def test_clean_text(raw, expected):
    assert clean_text(raw) == expected


def test_derived_summary_is_the_first_paragraph_cut_at_a_word_boundary():
    long = " ".join(f"word{i}" for i in range(200))
    summary = derive_summary(f"<p>{long}</p><p>second</p>")
    assert len(summary) <= 300 and summary.endswith("…")
    assert long.startswith(summary[:-1]) and long[len(summary) - 1] == " "
    assert derive_summary("Short first.\n\nSecond.") == "Short first."
    assert derive_summary("<p></p><p>After an empty one.</p>") == "After an empty one."


# ── times ────────────────────────────────────────────────────────────────────────────────────────────

@pytest.mark.parametrize("raw, expected", [
    ("13-07-2025 02:57 IST", datetime(2025, 7, 12, 21, 27, tzinfo=UTC)),
    ("Sun, 13 Jul 2025 02:57:00 IST", datetime(2025, 7, 12, 21, 27, tzinfo=UTC)),
    ("Sat, 12 Jul 2025 20:00:00 EST", datetime(2025, 7, 13, 1, 0, tzinfo=UTC)),
    ("12 July 2025 21:00 CET", datetime(2025, 7, 12, 20, 0, tzinfo=UTC)),
    ("Sun, 13 Jul 2025 05:30:00 +0100", datetime(2025, 7, 13, 4, 30, tzinfo=UTC)),
    ("2025-07-13T02:57:00+0530", datetime(2025, 7, 12, 21, 27, tzinfo=UTC)),
    ("2025-07-13T08:00:00Z", datetime(2025, 7, 13, 8, 0, tzinfo=UTC)),
    ("13/07/2025 02:57", datetime(2025, 7, 13, 2, 57, tzinfo=UTC)),
    ("2017/2/7", datetime(2017, 2, 7, tzinfo=UTC)),
    ("1752371220", datetime(2025, 7, 13, 1, 47, tzinfo=UTC)),
])
def test_parse_time_is_aware_utc(raw, expected):
    parsed = parse_time(raw)
    assert parsed == expected and parsed.tzinfo == UTC


def test_a_time_without_a_zone_uses_the_default():
    assert parse_time("13-07-2025 02:57", ZoneInfo("Asia/Kolkata")) == datetime(2025, 7, 12, 21, 27, tzinfo=UTC)
    assert parse_time("2025-01-10 09:00", ZoneInfo("Europe/London")) == datetime(2025, 1, 10, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("raw", ["", "the day before yesterday", "99-99-2025 99:99", "0001-01-01T00:00:00+05:00",
                                 "99999999999999999999", "9999-12-31T23:59:59-05:00"])
def test_unreadable_times_are_value_errors(raw):
    with pytest.raises(ValueError):
        parse_time(raw)


def test_titles_lose_bidi_and_format_characters():
    """Bidi embeddings, overrides, isolates and marks, and the other Cf characters, never reach a stored text
    field; the zero-width joiner of an emoji sequence stays."""
    from digest.ingest.normalize import FORMAT
    from digest.message import FORMAT as HEADER_FORMAT

    title = "\u202eevil\u202c \u2066title\u2069 \u200eL\u200fR \u061cx\u00ady\u2060z 👨\u200d👩\u200d👧"
    assert clean_text(title) == "evil title LR xyz 👨\u200d👩\u200d👧"
    assert clean_body("<p>\u202eabc\u202c \u2067d\u2069</p>") == "<p>abc d</p>"
    assert FORMAT.pattern.rstrip("+") == HEADER_FORMAT.pattern.rstrip("+")
