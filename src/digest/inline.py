"""CSS inlining: the rendered digest's <style> rules moved into style="" attributes, once per content variant.

css-inline (Rust, html5ever) does the inlining; what premailer did before and css-inline does not is done here:
the @media block back at the end of <head>, bgcolor="" fallbacks for older Outlook, attribute values escaped."""

from __future__ import annotations

import re
from functools import lru_cache


class InlineError(ValueError):
    """CSS the inliner cannot parse (a template's <style> or a style="" attribute)."""


def inline_css(rendered_html: str) -> str:
    """Move layout CSS into style="" attributes; keep @media rules in one <style> at the end of <head>.

    css-inline (html5ever) writes the rules it cannot inline into a <style> first in <head>: it goes back after
    the <meta> and <title> tags. Its serializer leaves < and > bare in attribute values: they are escaped again.
    A background-color also becomes a bgcolor="" on body, table, td and th, the fallback older Outlook reads."""
    import css_inline

    try:
        html_out = _inliner().inline(rendered_html)
    except css_inline.InlineError as exc:
        raise InlineError(str(exc)) from None
    html_out = html_out.replace("<!DOCTYPE html><html", "<!DOCTYPE html>\n<html", 1)
    head = _HEAD_STYLE.search(html_out)
    if head:
        html_out = html_out[:head.start(1)] + html_out[head.end(1):].replace("</head>", head.group(1) + "\n</head>", 1)
    return _TAG.sub(_tidy_tag, html_out)


_HEAD_STYLE = re.compile(r"<head[^>]*>(<style>.*?</style>)", re.S)
_TAG = re.compile(r'<([a-zA-Z][a-zA-Z0-9]*)((?:\s+[^\s="\'>/]+(?:="[^"]*")?)*)(\s*/?)>')  # html5ever's output
_VALUE = re.compile(r'="([^"]*)"')
_BACKGROUND = re.compile(r'\sstyle="(?:[^"]*;)?\s*background-color:\s*(#[0-9a-fA-F]{3,6})\s*(?:;|")')


def _tidy_tag(tag: re.Match) -> str:
    name, attrs, end = tag.groups()
    if "<" in attrs or ">" in attrs or "&" in attrs:
        attrs = _VALUE.sub(lambda v: '="' + _escape_value(v.group(1)) + '"', attrs)
    if name in ("body", "table", "td", "th") and " bgcolor=" not in attrs and (color := _BACKGROUND.search(attrs)):
        attrs += f' bgcolor="{_six_digits(color.group(1))}"'
    return f"<{name}{attrs}{end}>"


_BARE_AMP = re.compile(r"&(?!(?:[a-zA-Z][a-zA-Z0-9]*|#[0-9]+|#[xX][0-9a-fA-F]+);)")


def _escape_value(value: str) -> str:
    """An attribute value as HTML wants it: the inliner writes the CSS it merges into style="" (an url()'s
    query, say) with a bare & and leaves < and > bare; entities already there stay as they are."""
    return _BARE_AMP.sub("&amp;", value).replace("<", "&lt;").replace(">", "&gt;")


def _six_digits(color: str) -> str:
    """#abc → #aabbcc: the bgcolor attribute older Outlook reads wants all six digits."""
    return "#" + "".join(c * 2 for c in color[1:]) if len(color) == 4 else color


@lru_cache(maxsize=1)
def _inliner():
    import css_inline  # imported here: a cold `digest --help` should not pay for it

    return css_inline.CSSInliner(keep_at_rules=True, keep_link_tags=True, load_remote_stylesheets=False)
