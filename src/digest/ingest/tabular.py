"""CSV, JSON and JSON Lines files: rows with their line numbers, and articles built from them."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from urllib.parse import urlsplit

from digest.errors import InputError
from digest.ingest.normalize import (canonical_url, clean_body, clean_text, content_hash, derive_summary,
                                     parse_time, split_list)
from digest.models import Article

ARTICLE_FIELDS = ("title", "url", "guid", "summary", "body", "source", "author", "location", "country", "topics",
                  "image_url", "published", "updated")
Row = tuple[int, Mapping[str, object]]  # (line number, values)


def detect_format(path: Path, forced: str = "auto") -> str:
    if forced != "auto":
        return forced
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".json":
        return "json"
    if suffix in (".csv", ".tsv"):
        return "csv"
    with open(path, "rb") as fh:
        head = fh.read(2048).lstrip()
    if head.startswith(b"["):
        return "json"
    return "jsonl" if head.startswith(b"{") else "csv"


def read_rows(path: Path, fmt: str = "auto") -> Iterator[Row]:
    """Rows of a CSV (header row), JSON (a list of objects) or JSON Lines file, with 1-based line numbers."""
    try:
        fmt = detect_format(path, fmt)
        if fmt == "csv":
            yield from _csv_rows(path)
        elif fmt == "jsonl":
            yield from _jsonl_rows(path)
        elif fmt == "json":
            yield from _json_rows(path)
        else:
            raise InputError(f"{path}: unknown format {fmt!r} (use csv, json or jsonl)")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None


def _csv_rows(path: Path) -> Iterator[Row]:
    csv.field_size_limit(16 * 1024 * 1024)
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        if not reader.fieldnames:
            raise InputError(f"{path}:1: no header row")
        try:
            for row in reader:
                if None in row:
                    raise InputError(f"{path}:{reader.line_num}: more values than header columns")
                if any(v not in (None, "") for v in row.values()):
                    yield reader.line_num, row
        except csv.Error as exc:
            raise InputError(f"{path}:{reader.line_num}: malformed CSV: {exc}") from None


def _jsonl_rows(path: Path) -> Iterator[Row]:
    with open(path, encoding="utf-8-sig") as fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                yield number, _json_object(path, number, line)


def _json_rows(path: Path) -> Iterator[Row]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    items = data.get("items", data.get("articles")) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise InputError(f"{path}: expected a list of objects (or an object with an 'items' list)")
    for index, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise InputError(f"{path}: item {index}: expected an object")
        yield index, item


def _json_object(path: Path, number: int, line: str) -> Mapping[str, object]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{number}: invalid JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise InputError(f"{path}:{number}: expected a JSON object")
    return value


def parse_map(spec: str | None) -> dict[str, str]:
    """`title=headline,url=link` → {"title": "headline", "url": "link"} (field = column)."""
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in (spec or "").split(","))):
        field, sep, column = part.partition("=")
        if not sep or not column.strip():
            raise InputError(f"--map: expected field=column, got {part!r}")
        if field.strip() not in ARTICLE_FIELDS:
            raise InputError(f"--map: unknown field {field.strip()!r} (fields: {', '.join(ARTICLE_FIELDS)})")
        mapping[field.strip()] = column.strip()
    return mapping


def article_from_row(row: Mapping[str, object], mapping: Mapping[str, str], *, default_tz: tzinfo = timezone.utc,
                     now: datetime) -> Article:
    """One article from one row, or ValueError saying which field is wrong."""
    def get(field: str) -> object:
        value = row.get(mapping.get(field, field))
        return None if value == "" else value

    url = canonical_url(str(get("url") or ""))
    body = clean_body(get("body"))
    title = clean_text(get("title")) or _title_from_url(url)
    if not title:
        raise ValueError("title: missing")
    published = _time_field(get("published"), "published", default_tz) or now
    fields = {
        "url": url, "guid": str(get("guid") or url), "title": title,
        "summary": clean_text(get("summary")) or derive_summary(body), "body": body,
        "source": clean_text(get("source")) or urlsplit(url).hostname.removeprefix("www."),
        "author": clean_text(get("author")) or None, "location": clean_text(get("location")) or None,
        "country": clean_text(get("country")) or None, "topics": split_list(get("topics")),
        "image_url": _image(get("image_url")), "published_at": published,
    }
    updated = _time_field(get("updated"), "updated", default_tz)
    return Article(**fields, updated_at=updated or published, content_hash=content_hash(fields))


def _title_from_url(url: str) -> str:
    """A stand-in headline from the URL's last path segment, for exports that left the title empty."""
    slug = urlsplit(url).path.rstrip("/").rpartition("/")[2].rsplit(".", 1)[0]
    words = [w for w in re.split(r"[-_+]+", slug) if w and not w.isdigit()]
    return " ".join(words).capitalize() if len(words) >= 2 else ""


def _time_field(value: object, name: str, tz: tzinfo) -> datetime | None:
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


def load_articles(path: Path, *, fmt: str = "auto", mapping: Mapping[str, str] | None = None,
                  default_tz: tzinfo = timezone.utc, now: datetime) -> list[Article]:
    """Every article of a file, or InputError listing the rejected rows; nothing is stored on error."""
    articles, errors = [], []
    for line, row in read_rows(path, fmt):
        try:
            articles.append(article_from_row(row, mapping or {}, default_tz=default_tz, now=now))
        except ValueError as exc:
            errors.append(f"{path}:{line}: {exc}")
    if errors:
        raise InputError(rejected_message(errors))
    return articles


def rejected_message(errors: list[str]) -> str:
    more = f"\n{len(errors)} rows rejected; nothing was stored" if len(errors) > 1 else "; nothing was stored"
    return "\n".join(errors[:20]) + (f"\n… and {len(errors) - 20} more" if len(errors) > 20 else "") + more
