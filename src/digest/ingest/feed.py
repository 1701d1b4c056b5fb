"""RSS (0.9x, 1.0, 2.0) and Atom feeds through feedparser: each item is accepted or rejected on its own.

feedparser copes with wrong encodings, undeclared entities and broken XML (its loose parser); what it cannot
make whole is rejected here: an item cut off by a truncated document, an item without a usable link or
title, a gigantic item. Everything that is kept goes through `build_article` (cleaning, sanitizing, hashing).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone, tzinfo
from urllib.parse import urljoin

from digest.ingest.article import ArticleDraft, Batch, Rejected, build_article
from digest.ingest.normalize import parse_time

ITEM_OPEN = re.compile(rb"<(?:[\w-]+:)?(?:item|entry)[\s>/]")
ITEM_CLOSE = re.compile(rb"</(?:[\w-]+:)?(?:item|entry)\s*>")
IMAGE_EXT = re.compile(r"\.(?:jpe?g|png|gif|webp|avif)(?:$|\?)", re.I)
GLOBAL_ID = re.compile(r"^(?:https?://|urn:|tag:)", re.I)


def parse_feed(name: str, data: bytes, *, default_tz: tzinfo, now: datetime, base_url: str | None = None,
               content_type: str | None = None, topics: Sequence[str] = (), country: str | None = None) -> Batch:
    """Every item of an RSS or Atom document: `name` is how messages call the source."""
    parsed = _feedparser(data, base_url, content_type)
    if isinstance(parsed, str):
        return Batch(name, rejected=(Rejected(name, "feed", parsed),))
    entries = parsed.get("entries") or []
    if not entries and not parsed.get("version"):
        reason = f"not a readable RSS or Atom feed ({_bozo(parsed) or 'no feed element'})"
        return Batch(name, rejected=(Rejected(name, "feed", reason),))
    lines = _item_lines(data)
    complete = _complete_items(data) if parsed.get("bozo") else len(entries)
    feed = parsed.get("feed") or {}
    home = _home(feed.get("link"))
    context = {"source": feed.get("title"), "key": feed.get("link") or base_url or name, "topics": list(topics),
               "country": country, "home": home, "tz": default_tz}
    articles: list[ArticleDraft] = []
    rejected: list[Rejected] = []
    for index, entry in enumerate(entries, 1):
        line = lines[index - 1] if len(lines) == len(entries) else None
        if index > complete:
            rejected.append(Rejected(name, f"item {index}", "item is cut off (the document ends inside it)", line))
            continue
        try:
            articles.append(build_article(_values(entry, context), default_tz=default_tz, now=now))
        except ValueError as exc:
            rejected.append(Rejected(name, f"item {index}", str(exc), line))
        except Exception as exc:  # a trust boundary: no feed, however broken, gets a traceback out of here
            rejected.append(Rejected(name, f"item {index}", f"unreadable item ({type(exc).__name__})", line))
    return Batch(name, articles=tuple(articles), rejected=tuple(rejected))


def looks_like_feed(data: bytes) -> bool:
    head = data[:4096].lower()
    return any(tag in head for tag in (b"<rss", b"<rdf:rdf", b"<feed", b"<rdf ", b"<channel"))


def _feedparser(data: bytes, base_url: str | None, content_type: str | None):
    import feedparser

    headers = {"content-location": base_url or "", "content-type": content_type or ""}
    try:
        # sanitize_html off: nh3 cleans every field after this, with a stricter allowlist
        return feedparser.parse(data, response_headers={k: v for k, v in headers.items() if v}, sanitize_html=False)
    except RecursionError:
        return "not a readable feed (nested too deeply)"
    except Exception as exc:  # feedparser is defensive, but it is still parsing hostile bytes
        return f"not a readable feed ({type(exc).__name__})"


def _bozo(parsed) -> str:
    exc = parsed.get("bozo_exception")
    return str(getattr(exc, "getMessage", lambda: exc)() or "")[:200] if exc else ""


def _ascii_view(data: bytes) -> bytes:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16", "replace").encode("utf-8", "replace")
    return data


def _item_lines(data: bytes) -> list[int]:
    view = _ascii_view(data)
    lines, line, position = [], 1, 0
    for match in ITEM_OPEN.finditer(view):
        line += view.count(b"\n", position, match.start())
        position = match.start()
        lines.append(line)
    return lines


def _complete_items(data: bytes) -> int:
    """How many items the document closes: in a broken document, the items after that are cut off."""
    return len(ITEM_CLOSE.findall(_ascii_view(data)))


def _values(entry: Mapping, context: Mapping) -> dict[str, object]:
    body, tz = _content(entry), context["tz"]
    summary = entry.get("summary")
    return {
        "title": entry.get("title"), "url": _link(entry, context["home"]), "guid": _guid(entry, context["key"]),
        "summary": summary if body and summary and summary != body else None, "body": body or summary,
        "source": context["source"], "author": entry.get("author"), "country": context["country"],
        "topics": [t.get("term") or t.get("label") for t in entry.get("tags") or () if isinstance(t, Mapping)]
        + context["topics"],
        "image_url": _image(entry), "published": _date(entry, "published", tz) or _date(entry, "updated", tz),
        "updated": _date(entry, "updated", tz),
    }


def _home(link: object) -> str | None:
    text = str(link or "")
    return text if text.lower().startswith(("http://", "https://")) else None


def _content(entry: Mapping) -> str | None:
    contents = [c for c in entry.get("content") or () if isinstance(c, Mapping) and c.get("value")]
    html = [c for c in contents if "html" in str(c.get("type", ""))]
    return str((html or contents)[0]["value"]) if contents else None


def _link(entry: Mapping, home: str | None) -> str | None:
    """The item's link (relative links resolved against the feed's own site), or a permalink guid."""
    link = str(entry.get("link") or "").strip()
    if link:
        return urljoin(home, link) if home and not link.lower().startswith(("http:", "https:")) else link
    guid = str(entry.get("id") or "")
    return guid if guid.lower().startswith(("http://", "https://")) else None


def _guid(entry: Mapping, key: str) -> str | None:
    guid = str(entry.get("id") or "").strip()
    if not guid or GLOBAL_ID.match(guid):
        return guid or None
    return f"{key}#{guid}"


def _image(entry: Mapping) -> str | None:
    candidates = []
    for link in entry.get("links") or ():
        if isinstance(link, Mapping) and link.get("rel") == "enclosure":
            candidates.append((link.get("type"), link.get("href")))
    for media in entry.get("media_content") or ():
        if isinstance(media, Mapping):
            kind = media.get("type") or ("image/" if media.get("medium") == "image" else None)
            candidates.append((kind, media.get("url")))
    candidates += [("image/", m.get("url")) for m in entry.get("media_thumbnail") or () if isinstance(m, Mapping)]
    for kind, url in candidates:
        if url and (str(kind or "").startswith("image/") or IMAGE_EXT.search(str(url))):
            return str(url)
    return None


def _date(entry: Mapping, name: str, tz: tzinfo) -> datetime | None:
    """The raw date read by our parser (zones like IST, day-first dates), else feedparser's reading of it."""
    raw = dict.get(entry, name)  # not entry.get: feedparser would hand back `published` for a missing `updated`
    parsed = dict.get(entry, f"{name}_parsed")
    if raw:
        try:
            return parse_time(raw, tz)
        except ValueError:
            pass
    if parsed:
        try:
            return datetime(*parsed[:6], tzinfo=timezone.utc)
        except (TypeError, ValueError):
            return None
    return None
