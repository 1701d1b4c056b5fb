"""CSV, JSON and JSON Lines files: rows with their line numbers, and articles built from them."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone, tzinfo
from pathlib import Path

from digest.errors import InputError
from digest.ingest.article import FIELDS as ARTICLE_FIELDS
from digest.ingest.article import ArticleDraft, build_article
from digest.models import Article

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
    data = read_file(path)
    fmt = detect_format(path, fmt)
    yield from rows_from_bytes(str(path), data, fmt, tab=path.suffix.lower() == ".tsv")


def read_file(path: Path, max_bytes: int | None = None) -> bytes:
    """A file's bytes, or InputError naming it: missing, a directory, unreadable or over `max_bytes`."""
    try:
        if max_bytes is not None and (size := path.stat().st_size) > max_bytes:
            raise InputError(f"{path}: too large ({size} bytes)")
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None


def rows_from_bytes(name: str, data: bytes, fmt: str, *, tab: bool = False) -> Iterator[Row]:
    """Rows of CSV, JSON or JSON Lines bytes (UTF-8) from a source called `name` in messages."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if fmt == "csv":
        yield from _csv_rows(name, text, "\t" if tab else ",")
    elif fmt == "jsonl":
        yield from _jsonl_rows(name, text)
    elif fmt == "json":
        yield from _json_rows(name, text)
    else:
        raise InputError(f"{name}: unknown format {fmt!r} (use csv, json or jsonl)")


def _csv_rows(name: str, text: str, delimiter: str) -> Iterator[Row]:
    csv.field_size_limit(16 * 1024 * 1024)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        if not reader.fieldnames:
            raise InputError(f"{name}:1: no header row")
        for row in reader:
            if None in row:
                raise InputError(f"{name}:{reader.line_num}: more values than header columns")
            if any(v not in (None, "") for v in row.values()):
                yield reader.line_num, row
    except csv.Error as exc:
        raise InputError(f"{name}:{reader.line_num}: malformed CSV: {exc}") from None


def _jsonl_rows(name: str, text: str) -> Iterator[Row]:
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            yield number, _json_object(name, number, line)


def _json_rows(name: str, text: str) -> Iterator[Row]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{name}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise InputError(f"{name}: JSON nested too deeply") from None
    items = data.get("items", data.get("articles")) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise InputError(f"{name}: expected a list of objects (or an object with an 'items' list)")
    for index, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise InputError(f"{name}: item {index}: expected an object")
        yield index, item


def _json_object(name: str, number: int, line: str) -> Mapping[str, object]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{name}:{number}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise InputError(f"{name}:{number}: JSON nested too deeply") from None
    if not isinstance(value, dict):
        raise InputError(f"{name}:{number}: expected a JSON object")
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
    return draft_from_row(row, mapping, default_tz=default_tz, now=now).to_article()


def draft_from_row(row: Mapping[str, object], mapping: Mapping[str, str], *, default_tz: tzinfo,
                   now: datetime) -> ArticleDraft:
    values = {field: _scalar(row.get(mapping.get(field, field))) for field in ARTICLE_FIELDS}
    return build_article(values, default_tz=default_tz, now=now)


def _scalar(value: object) -> object:
    """JSON rows may hold anything: lists stay lists (topics), other structures become absent."""
    if isinstance(value, dict):
        return None
    if isinstance(value, list):
        return [v for v in value if isinstance(v, (str, int, float))]
    return value


def load_articles(path: Path, *, fmt: str = "auto", mapping: Mapping[str, str] | None = None,
                  default_tz: tzinfo = timezone.utc, now: datetime) -> list[Article]:
    """Every article of a file, or InputError listing the rejected rows; nothing is stored on error."""
    drafts = articles_from_rows(str(path), read_rows(path, fmt), mapping or {}, default_tz=default_tz, now=now)
    return [d.to_article() for d in drafts]


def articles_from_rows(name: str, rows: Iterable[Row], mapping: Mapping[str, str], *, default_tz: tzinfo,
                       now: datetime) -> list[ArticleDraft]:
    """All the rows' articles, or InputError naming every bad row: a tabular export is taken whole or not at all."""
    rows = list(rows)
    check_mapping(name, mapping, rows)
    articles, errors = [], []
    for line, row in rows:
        try:
            articles.append(draft_from_row(row, mapping, default_tz=default_tz, now=now))
        except ValueError as exc:
            errors.append(f"{name}:{line}: {exc}")
    if errors:
        raise RowsRejected(rejected_message(errors), count=len(errors))
    return articles


def check_mapping(name: str, mapping: Mapping[str, str], rows: Sequence[Row]) -> None:
    """InputError naming each `--map field=column` whose column no row has (and the columns there are)."""
    if not mapping or not rows:
        return
    columns = dict.fromkeys(key for _, row in rows for key in row if isinstance(key, str))
    missing = [f"{field}={column}" for field, column in mapping.items() if column not in columns]
    if missing:
        shown = ", ".join(list(columns)[:30]) + (", …" if len(columns) > 30 else "")
        raise InputError(f"{name}: --map {', '.join(missing)}: no such column (its columns: {shown}); "
                         "nothing was stored")


class RowsRejected(InputError):
    """A tabular export with bad rows: nothing of it is stored. `count` is how many rows were bad."""

    def __init__(self, message: str, *, count: int) -> None:
        super().__init__(message)
        self.count = count


def rejected_message(errors: list[str]) -> str:
    more = f"\n{len(errors)} rows rejected; nothing was stored" if len(errors) > 1 else "; nothing was stored"
    return "\n".join(errors[:20]) + (f"\n… and {len(errors) - 20} more" if len(errors) > 20 else "") + more
