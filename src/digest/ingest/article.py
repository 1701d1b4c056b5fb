"""The one place an article is built: from the values any source gives, cleaned, checked and hashed.

Every parser (tabular rows, feed items, article pages, text dumps) hands a plain mapping of values to
`build_article`, which either returns a whole `ArticleDraft` (a frozen record of the `Article` columns) or
raises `ValueError` naming the field. Drafts are cheap: no ORM object is made until one is needed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from urllib.parse import urlsplit

from digest.ingest.normalize import (CONTROL, SUMMARY_LIMIT, canonical_url, clean_body, clean_text, content_hash,
                                     derive_summary, parse_time, shorten, split_list)
from digest.models import Article

FIELDS = ("title", "url", "guid", "summary", "body", "source", "author", "location", "country", "topics",
          "image_url", "published", "updated")
MAX_TITLE = 1_000  # characters, after cleaning
MAX_BODY = 2_000_000  # characters of raw body: a bigger item is rejected, not cut
MAX_GUID = 2_000
UNSAFE = re.compile(r"<\s*script|<[^>]*\son[a-z]+\s*=|(?:href|src)\s*=\s*[\"']?\s*(?:javascript|vbscript|data):|"
                    r"(?:java|vb)script:\S", re.I)
UNSAFE_URL = re.compile(r"^\s*(?:javascript|vbscript|data):", re.I)


@dataclass(frozen=True, slots=True)
class ArticleDraft:
    """An article ready for the store: the columns of `Article` (without id), all cleaned and checked."""

    url: str
    guid: str
    title: str
    summary: str
    body: str
    source: str
    author: str | None
    location: str | None
    country: str | None
    topics: list[str]
    image_url: str | None
    published_at: datetime
    updated_at: datetime
    content_hash: str

    def row(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__slots__}

    def to_article(self) -> Article:
        return Article(**self.row())


@dataclass(frozen=True, slots=True)
class Rejected:
    """An item a source gave that was not stored, and why: `feed.xml:42: item 3: link: missing`."""

    source: str
    position: str  # "item 3", "line 7", "page"
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.position}: {self.reason}"


@dataclass(frozen=True, slots=True)
class TrendingHeadline:
    """A headline a page lists as trending ("TRENDING" box), with its rank and region label."""

    title: str
    rank: int
    region: str | None
    page_url: str
    source: str
    seen_at: datetime


@dataclass(frozen=True)
class Batch:
    """What one source gave: the articles accepted, the items rejected, and any trending headlines."""

    source: str
    articles: tuple[ArticleDraft, ...] = ()
    rejected: tuple[Rejected, ...] = ()
    trending: tuple[TrendingHeadline, ...] = ()


def build_article(values: Mapping[str, object], *, default_tz: tzinfo, now: datetime) -> ArticleDraft:
    """One whole article from `values` (keys from FIELDS; missing or empty means absent), or ValueError.

    Its URL is http(s), always: it is the link every reader follows.
    """
    def get(field: str) -> object:
        value = values.get(field)
        return None if value == "" or value == [] else value

    url = _url(str(get("url") or "").strip())
    title = clean_text(get("title")) or title_from_url(url)
    if not title:
        raise ValueError("title: missing")
    if len(title) > MAX_TITLE:
        raise ValueError(f"title: too long ({len(title)} characters; at most {MAX_TITLE})")
    raw_body = get("body")
    if raw_body is not None and len(str(raw_body)) > MAX_BODY:
        raise ValueError(f"body: too large ({len(str(raw_body))} characters; at most {MAX_BODY})")
    body = clean_body(raw_body)
    published = _time(get("published"), "published", default_tz)
    fields = {
        "url": url, "guid": _guid(get("guid"), url), "title": title,
        "summary": shorten(clean_text(get("summary")), SUMMARY_LIMIT) or derive_summary(body), "body": body,
        "source": shorten(clean_text(get("source")), 200) or (urlsplit(url).hostname or "").removeprefix("www."),
        "author": shorten(clean_text(get("author")), 200) or None,
        "location": shorten(clean_text(get("location")), 200) or None,
        "country": shorten(clean_text(get("country")), 100) or None,
        "topics": [shorten(t, 100) for t in split_list(get("topics"))][:50],
        "image_url": _image(get("image_url")), "published_at": published or now,
    }
    updated = _time(get("updated"), "updated", default_tz)
    hashed = fields if published else {k: v for k, v in fields.items() if k != "published_at"}
    article = ArticleDraft(**fields, updated_at=updated or published or now, content_hash=content_hash(hashed))
    problem = unsafe_field(article)
    if problem:
        raise ValueError(f"{problem}: unsafe content survived cleaning")
    return article


def unsafe_field(article: ArticleDraft | Article) -> str | None:
    """The first field holding a script tag, an event handler attribute or a script URL, if any."""
    for name in ("title", "summary", "body", "source", "author", "location", "country", "guid"):
        if _unsafe(getattr(article, name) or ""):
            return name
    for name in ("url", "image_url"):
        value = getattr(article, name) or ""
        if UNSAFE_URL.match(value) or _unsafe(value):
            return name
    if any(_unsafe(t) for t in article.topics or ()):
        return "topics"
    return None


def _unsafe(text: str) -> bool:
    return ("<" in text or "script:" in text.lower()) and bool(UNSAFE.search(text))


def _url(raw: str) -> str:
    if not raw:
        raise ValueError("url: missing")
    try:
        return canonical_url(raw)
    except ValueError as exc:
        raise ValueError(f"url: {exc}") from None


def title_from_url(url: str) -> str:
    """A stand-in headline from the URL's last path segment, for exports that left the title empty."""
    slug = urlsplit(url).path.rstrip("/").rpartition("/")[2].rsplit(".", 1)[0]
    words = [w for w in re.split(r"[-_+]+", slug) if w and not w.isdigit()]
    return clean_text(" ".join(words).capitalize()) if len(words) >= 2 else ""


def _guid(value: object, url: str) -> str:
    guid = CONTROL.sub("", " ".join(str(value or "").split()))
    if len(guid) > MAX_GUID:
        raise ValueError(f"guid: too long ({len(guid)} characters)")
    return guid or url


def _time(value: object, name: str, tz: tzinfo) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_time(value, tz)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def _image(value: object) -> str | None:
    if not value:
        return None
    try:
        return canonical_url(str(value))
    except ValueError:
        return None


def page_article(values: dict, *, url: str | None, default_tz, now) -> ArticleDraft:
    """A page's article: at the address given, else the page's own (ValueError when neither is http(s))."""
    values["url"] = url or values.get("url")
    if not values["url"]:
        raise ValueError("url: the page names no http(s) address (give it with --url)")
    return build_article(values, default_tz=default_tz, now=now)
