"""Which parser a source needs, from its first bytes (then its name and Content-Type as hints)."""

from __future__ import annotations

import csv
import re

FORMATS = ("auto", "rss", "atom", "csv", "jsonl", "json", "html", "text")
FEED_TAGS = (b"<rss", b"<rdf:rdf", b"<feed", b"<channel")
HTML_TAGS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<meta", b"<article", b"<div", b"<p>", b"<title")
SUFFIXES = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".txt": "text",
            ".html": "html", ".htm": "html", ".rss": "rss", ".atom": "atom", ".xml": "rss"}
LINE_BREAK = re.compile(r"\r\n|\r|\n")
HEADER_CELL = re.compile(r"^[A-Za-z_][\w.-]{0,63}$")
CONTROL_BYTES = bytes([*range(0, 9), 11, *range(14, 32), 127])  # never in text but for a stray one
BINARY_SHARE = 0.01  # more control bytes than this: not text (random or compressed bytes have about 11%)
BOMS = {b"\xff\xfe\x00\x00": "utf-32", b"\x00\x00\xfe\xff": "utf-32", b"\xff\xfe": "utf-16", b"\xfe\xff": "utf-16"}
KNOWN_COLUMNS = {"title", "url", "link", "guid", "id", "summary", "body", "text", "source", "author", "published",
                 "date", "updated", "topics", "country", "kind", "count", "at", "email"}


def detect_format(head: bytes, *, name: str = "", content_type: str = "") -> str:
    """rss (RSS or Atom: one parser reads both), csv, jsonl, json, html or text."""
    text = _head_text(head)
    lowered = text[:4096].lower().encode("utf-8", "ignore")
    if text.startswith("<") or lowered.startswith(b"<?xml"):
        if any(tag in lowered for tag in FEED_TAGS):
            return "rss"
        return "html" if any(tag in lowered for tag in HTML_TAGS) or "html" in content_type else "rss"
    if text.startswith("["):
        return "json"
    if text.startswith("{"):  # one object in a .jsonl file is JSON Lines of one line
        return "jsonl" if _suffix(name) == "jsonl" else _json_or_jsonl(text)
    suffix = _suffix(name)
    if suffix in ("csv", "jsonl", "json"):
        return suffix
    if any(kind in content_type for kind in ("csv", "tab-separated")):
        return "csv"
    lines = LINE_BREAK.split(text, 1)
    return "csv" if len(lines) > 1 and _csv_header(lines[0]) else "text"


def looks_binary(data: bytes) -> bool:
    """Not text in any encoding a source may use: more than 1% control bytes (NUL, ...); UTF-16 and UTF-32 with
    a byte order mark are judged by their characters."""
    bom = next((name for mark, name in BOMS.items() if data.startswith(mark)), None)
    if bom:
        text = data[:65536].decode(bom, "replace")
        controls = sum(1 for c in text if c < " " and c not in "\t\n\r\f" or c == "\x7f")
        return controls > BINARY_SHARE * max(1, len(text))
    return len(data) - len(data.translate(None, CONTROL_BYTES)) > BINARY_SHARE * max(1, len(data))


def _csv_header(line: str) -> bool:
    for delimiter in (",", "\t", ";"):
        try:
            cells = [c.strip() for c in next(csv.reader([line], delimiter=delimiter), [])]
        except csv.Error:
            return False
        if len(cells) >= 2 and all(HEADER_CELL.match(c) for c in cells):
            return len(cells) >= 3 or any(c.lower() in KNOWN_COLUMNS for c in cells)
    return False


def _head_text(head: bytes) -> str:
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return head.decode("utf-16", "replace").lstrip("\ufeff \t\r\n")
    return head.decode("utf-8", "replace").lstrip("\ufeff \t\r\n")


def _json_or_jsonl(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    complete = lines[:-1] if len(lines) > 1 else lines
    return "jsonl" if len(lines) > 1 and all(line.lstrip().startswith("{") for line in complete) and \
        all(line.rstrip().endswith("}") for line in complete) else "json"


def _suffix(name: str) -> str:
    lowered = name.lower().split("?", 1)[0]
    return next((fmt for suffix, fmt in SUFFIXES.items() if lowered.endswith(suffix)), "")
