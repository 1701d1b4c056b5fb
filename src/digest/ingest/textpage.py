"""Plain-text dumps of article pages (what "save as text" or a crawler's text output gives).

The shape this reads, as on news sites such as the seed page:

    navigation line(s)
    Headline
    Standfirst paragraph.
    Source | Location | Updated: 13-07-2025 02:57 IST | Created: 13-07-2025 02:57 IST      ← the byline
    caption lines, "• Country:" "• South Korea"
    article paragraphs …
    TRENDING / OPINION / Latest News / footer …                                            ← stop here

The TRENDING box ("1", headline, headline again, region label) becomes trending headlines.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo

from digest.ingest.article import Batch, Rejected, TrendingHeadline, page_article
from digest.ingest.normalize import clean_text, parse_time

DATE_KEYS = re.compile(r"^(updated|created|published|posted|date|last updated|first published)\s*:\s*(.+)$", re.I)
BULLET = re.compile(r"^[\s•·\-*–]+")
URL_LINE = re.compile(r"^(?:(?:url|link|source|canonical)\s*:\s*)?(https?://\S+)$", re.I)
STOP_WORDS = {"trending", "latest news", "related", "related news", "read more", "also read", "advertisement",
              "most read", "most popular", "recommended", "connect us on", "share this article", "comments"}
TRENDING = {"trending", "trending now", "most read", "most popular"}


def parse_text_page(name: str, data: bytes, *, default_tz: tzinfo, now: datetime, url: str | None = None) -> Batch:
    """The one article of a text page (or its rejection), and the page's trending headlines."""
    blocks = _blocks(_decode(data))
    try:
        values, trending = _read_page(blocks, default_tz)
        article = page_article(values, url=url, default_tz=default_tz, now=now)
    except ValueError as exc:
        return Batch(name, rejected=(Rejected(name, "page", str(exc)),))
    heads = tuple(TrendingHeadline(title, rank, region, article.url, article.source, article.published_at)
                  for rank, title, region in trending)
    return Batch(name, articles=(article,), trending=heads)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def _blocks(text: str) -> list[list[str]]:
    """Paragraph blocks: runs of non-blank lines, each line stripped."""
    blocks: list[list[str]] = [[]]
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line.strip():
            blocks[-1].append(line.strip())
        elif blocks[-1]:
            blocks.append([])
    return [b for b in blocks if b]


def _read_page(blocks: list[list[str]], tz: tzinfo) -> tuple[dict[str, object], list[tuple[int, str, str | None]]]:
    at = _byline_index(blocks)
    values: dict[str, object] = {"url": _url(blocks)}
    if at is None:
        head, rest = _headline_without_byline(blocks)
        values.update(head)
    else:
        values.update(_before_byline(blocks[:at]))
        values.update(_byline(blocks[at], tz))
        rest = blocks[at + 1:]
    end = next((i for i, b in enumerate(rest) if _is_stop(b[0])), len(rest))
    values["body"] = "\n\n".join(" ".join(b) for b in rest[:end] if " ".join(b) != values.get("title"))
    return values, _trending(rest[end:])


def _byline_index(blocks: list[list[str]]) -> int | None:
    for index, block in enumerate(blocks):
        parts = [p.strip() for p in block[0].split("|")]
        if len(parts) >= 2 and any(DATE_KEYS.match(p) or _is_date(p) for p in parts):
            return index
    return None


def _is_date(text: str) -> bool:
    if not re.search(r"\d", text):
        return False
    try:
        parse_time(text)
        return True
    except ValueError:
        return False


def _before_byline(blocks: list[list[str]]) -> dict[str, object]:
    """Headline and standfirst: the standfirst is the paragraph right before the byline, the headline before it."""
    if not blocks:
        return {}
    last = " ".join(blocks[-1])
    if len(blocks) >= 2 and _is_sentence(last) and len(blocks[-2]) == 1:
        return {"title": blocks[-2][0], "summary": last}
    return {"title": last}


def _is_sentence(text: str) -> bool:
    return text.rstrip().endswith((".", "!", "?", "\u201d", '"', "'")) or len(text.split()) > 25


def _byline(block: list[str], tz: tzinfo) -> dict[str, object]:
    parts = [p.strip() for p in block[0].split("|") if p.strip()]
    dates = {m[1].lower(): m[2] for m in map(DATE_KEYS.match, parts) if m}
    plain = [p for p in parts if not DATE_KEYS.match(p) and not _is_date(p)]
    created = dates.get("created") or dates.get("published") or dates.get("first published") or \
        dates.get("posted") or dates.get("date") or next((p for p in parts if _is_date(p)), None)
    values: dict[str, object] = {
        "source": plain[0] if plain else None, "location": plain[1] if len(plain) > 1 else None,
        "published": created, "updated": dates.get("updated") or dates.get("last updated"),
        "country": _labelled(block[1:], "country"), "topics": _labelled_all(block[1:], ("topic", "topics", "tags")),
    }
    return values


def _labelled(lines: list[str], label: str) -> str | None:
    found = _labelled_all(lines, (label,))
    return found[0] if found else None


def _labelled_all(lines: list[str], labels: tuple[str, ...]) -> list[str]:
    """Values after a `Label:` line (bullets below it, or inline after the colon)."""
    values: list[str] = []
    collecting = False
    for line in lines:
        text = BULLET.sub("", line).strip()
        key, colon, rest = text.partition(":")
        if colon and key.strip().lower() in labels:
            collecting = True
            values += [v.strip() for v in rest.split(",") if v.strip()]
        elif colon:
            collecting = False
        elif collecting and BULLET.match(line):
            values.append(text)
        else:
            collecting = False
    return values


def _headline_without_byline(blocks: list[list[str]]) -> tuple[dict[str, object], list[list[str]]]:
    """No byline: the first short line that is not navigation is the headline; the rest is body."""
    for index, block in enumerate(blocks):
        line = block[0]
        if 3 <= len(line.split()) <= 30 and not _is_sentence(line) and not URL_LINE.match(line):
            rest = ([block[1:]] if len(block) > 1 else []) + blocks[index + 1:]
            return {"title": line}, rest
    return {}, blocks


def _is_stop(line: str) -> bool:
    text = line.strip()
    upper_heading = len(text) <= 60 and re.search(r"[A-Z]{3}", text) and not re.search(r"[a-z]", text)
    return bool(upper_heading) or text.lower().rstrip(":") in STOP_WORDS


def _url(blocks: list[list[str]]) -> str | None:
    for block in blocks:
        for line in block:
            match = URL_LINE.match(line)
            if match:
                return match[1]
    return None


def _trending(blocks: list[list[str]]) -> list[tuple[int, str, str | None]]:
    """(rank, headline, region) from a TRENDING box: "1", headline, the headline again, region label."""
    lines = [line for block in blocks for line in block]
    start = next((i for i, line in enumerate(lines) if line.lower().rstrip(":") in TRENDING), None)
    if start is None:
        return []
    found: list[list] = []
    for line in lines[start + 1:]:
        if _is_stop(line):
            break
        if re.fullmatch(r"\d{1,2}\.?", line):
            found.append([int(line.rstrip(".")), None, None])
        elif found and found[-1][1] is None:
            found[-1][1] = clean_text(line)
        elif found and clean_text(line) != found[-1][1] and found[-1][2] is None:
            found[-1][2] = clean_text(line)
    return [(rank, title, region) for rank, title, region in found if title]
