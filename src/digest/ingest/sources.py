"""A source (a file path or an http(s) URL) read, recognised and parsed into a `Batch`.

Feeds and pages: each item is accepted or rejected on its own (rejections are in the batch).
Tabular exports (CSV, JSON, JSON Lines): taken whole or not at all, as an `InputError` naming every bad row.
A source that cannot be read at all (no such file, a network failure, an HTTP error) is one `InputError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from pathlib import Path

from digest.config import FeedsSettings
from digest.errors import InputError
from digest.ingest.article import Batch
from digest.ingest.detect import FORMATS, detect_format, looks_binary
from digest.ingest.feed import parse_feed
from digest.ingest.fetch import fetch
from digest.ingest.page import parse_html_page
from digest.ingest.tabular import articles_from_rows, read_file, rows_from_bytes
from digest.ingest.textpage import parse_text_page


@dataclass(frozen=True)
class SourceOptions:
    now: datetime
    fmt: str = "auto"
    mapping: Mapping[str, str] = field(default_factory=dict)
    default_tz: tzinfo = timezone.utc
    url: str | None = None  # the address of a page given as a file
    topics: Sequence[str] = ()  # added to every item of a registered feed
    country: str | None = None


def is_url(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def read_source(source: str, options: SourceOptions, fetch_settings: FeedsSettings, *, client=None) -> Batch:
    """Read and parse one source; InputError when it cannot be read at all (or a tabular file has a bad row)."""
    if options.fmt not in FORMATS:
        raise InputError(f"--format: expected one of {', '.join(FORMATS)}, got {options.fmt!r}")
    if is_url(source):
        fetched = fetch(source, fetch_settings, client=client)
        return parse_document(source, fetched.body, options, content_type=fetched.content_type,
                              base_url=fetched.url)
    data = _read_file(Path(source), fetch_settings.max_bytes)
    return parse_document(source, data, options)


def parse_document(name: str, data: bytes, options: SourceOptions, *, content_type: str = "",
                   base_url: str | None = None) -> Batch:
    """Parse bytes already in hand. Returns a batch; raises InputError for bytes that are not text (no feed,
    page or export) and for a bad tabular export.

    A page's article needs an http(s) address: `--url`, else the one the page names (a file's path is never
    one: it would show readers the operator's disk)."""
    if looks_binary(data):
        raise InputError(f"{name}: not a feed, article page, CSV or JSON file (binary data)")
    fmt = options.fmt if options.fmt != "auto" else detect_format(data[:8192], name=name, content_type=content_type)
    tz, now = options.default_tz, options.now
    if fmt in ("rss", "atom"):
        return parse_feed(name, data, default_tz=tz, now=now, base_url=base_url, content_type=content_type,
                          topics=options.topics, country=options.country)
    if fmt == "html":
        return parse_html_page(name, data, default_tz=tz, now=now, url=options.url or base_url)
    if fmt == "text":
        return parse_text_page(name, data, default_tz=tz, now=now, url=options.url or base_url)
    rows = rows_from_bytes(name, data, fmt, tab=name.lower().endswith(".tsv"))
    return Batch(name, articles=tuple(articles_from_rows(name, rows, options.mapping, default_tz=tz, now=now)))


def _read_file(path: Path, max_bytes: int) -> bytes:
    return read_file(path, max(max_bytes, 512 * 1024 * 1024))
