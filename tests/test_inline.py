"""CSS inlining (digest.inline.inline_css, css-inline): what premailer did before is what the emails still get."""

from __future__ import annotations

import re

import pytest

from digest.inline import InlineError, inline_css

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>T</title>
<style>
  body { margin: 0; background-color: #f3f1ec; }
  .box { background-color: #ffffff; width: 600px; }
  .dark { background-color: #111111 !important; }
  p.lead { color: #333333; }
  @media only screen and (max-width: 620px) { .box { width: 100% !important; } }
</style>
</head>
<body>
<!--[if mso]><table role="presentation" width="600"><tr><td><![endif]-->
<table class="box" role="presentation"><tr><td class="dark" title="a &lt;b&gt; &amp; &quot;c&quot;">
<p class="lead" style="margin: 0">Tom &amp; Jerry &lt;script&gt;</p></td><th bgcolor="#000000" class="box">x</th></tr></table>
<!--[if mso]></td></tr></table><![endif]-->
</body>
</html>
"""


def test_rules_move_into_style_attributes_and_media_queries_stay_in_head():
    html = inline_css(PAGE)
    head, body = html.split("</head>", 1)
    assert html.startswith("<!DOCTYPE html>\n<html")
    assert "<style" not in body and "@media" not in body
    style = re.search(r"<style>(.*?)</style>", head, re.S).group(1)
    assert "@media only screen and (max-width: 620px)" in style and "!important" in style
    assert ".lead" not in style  # inlined rules leave the stylesheet
    assert head.index("<meta charset") < head.index("<title>") < head.index("<style>")
    assert re.search(r'<p class="lead" style="[^"]*color: #333333[^"]*margin: 0', body)


def test_outlook_conditional_comments_survive():
    html = inline_css(PAGE)
    assert '<!--[if mso]><table role="presentation" width="600"><tr><td><![endif]-->' in html
    assert "<!--[if mso]></td></tr></table><![endif]-->" in html


def test_background_colours_also_become_bgcolor_attributes():
    html = inline_css(PAGE)
    assert re.search(r'<body style="[^"]*" bgcolor="#f3f1ec">', html)
    assert re.search(r'<table class="box"[^>]* bgcolor="#ffffff">', html)
    assert 'bgcolor="#111111"' not in html  # an !important colour is an override, not a fallback
    assert html.count("bgcolor=") == 3 and 'bgcolor="#000000"' in html  # the th keeps its own


def test_markup_in_attribute_values_and_text_stays_escaped():
    html = inline_css(PAGE)
    assert "<script>" not in html and "Tom &amp; Jerry &lt;script&gt;" in html
    assert 'title="a &lt;b&gt; &amp; &quot;c&quot;"' in html


SMALL = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>T</title>
<link rel="stylesheet" href="https://fonts.example/css?family=Serif&amp;display=swap">
<style>.hero { background: url('https://img.example/a.png?w=600&h=300'); } td { background-color: #fff; }</style>
</head><body><table><tr><td class="hero">x</td></tr></table></body></html>"""


def test_a_stylesheet_link_stays_and_merged_urls_keep_their_ampersands_escaped():
    html = inline_css(SMALL)
    assert '<link rel="stylesheet" href="https://fonts.example/css?family=Serif&amp;display=swap">' in html
    style = re.search(r'<td class="hero" style="([^"]*)"', html).group(1)
    assert "w=600&amp;h=300" in style and "&h=" not in style


def test_a_three_digit_background_colour_becomes_a_six_digit_bgcolor():
    assert 'bgcolor="#ffffff"' in inline_css(SMALL)


def test_css_the_inliner_cannot_parse_is_an_inline_error_not_a_crash():
    with pytest.raises(InlineError):
        inline_css('<html><head><style>p { color: red }</style></head><body><p style="color: red; {">x</p></body></html>')
