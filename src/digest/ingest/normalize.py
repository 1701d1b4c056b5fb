"""Normalising what sources give us: URLs, text, HTML, times. Pure functions, no I/O."""

from __future__ import annotations

import hashlib
import html
import json
import re
import unicodedata
from datetime import datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from functools import lru_cache
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

URL_UNSAFE = re.compile(r'[\s<>"{}|\\^`]')  # never in a URL (RFC 3986): refused in the host, encoded elsewhere
HOST = re.compile(r"^(?:[\w-]+\.)*[\w-]+\.?$|^[0-9a-f:.]+$", re.I)
TRACKING = re.compile(r"^(utm_[a-z]+|fbclid|gclid|mc_cid|mc_eid|ocid|cmpid|at_medium|at_campaign|ref|cid)$", re.I)
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")
# Unicode category Cf but the zero-width joiners (emoji sequences and Persian or Indic words need them): bidi
# embeddings, overrides, isolates and marks (U+202A–U+202E, U+2066–U+2069, U+200E/F), soft hyphen, tags, ...
# The same list as `digest.message.FORMAT`; tests/test_ingest_normalize.py checks it against `unicodedata`.
FORMAT = re.compile("[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b\u200e\u200f"
                    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
                    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
                    "\U000e0020-\U000e007f]")
TAG_START = re.compile(r"<[A-Za-z/!?]")
SCRIPT_SCHEME = re.compile(r"(?:java|vb)script:(?=\S)", re.I)  # "javascript:alert(1)" as text: not even that
ENTITY = re.compile(r"&(?:#\d+|#x[0-9a-f]+|[a-z][a-z0-9]*);", re.I)
SAFE_TAGS = {"p", "br", "strong", "em", "b", "i", "a", "ul", "ol", "li", "blockquote", "h2", "h3", "h4", "img",
             "figure", "figcaption"}
SAFE_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "width", "height"}}
DROP_WITH_CONTENT = {"script", "style", "iframe", "frame", "frameset", "noscript", "object", "embed", "applet",
                     "template", "svg", "math", "form", "textarea", "select", "button", "head", "title"}
PIXEL = re.compile(r'<img\b[^>]*?(?:\b(?:width|height)="[01](?:px)?"|src="[^"]*(?:[/.]pixel[./?_-]|'
                   r'[/.]track(?:ing)?[./?]|beacon|/~r/|doubleclick\.net|google-analytics\.com|feedburner\.com/~|'
                   r'stats\.wp\.com|pixel\.wp\.com)[^"]*")[^>]*>', re.I)
EMPTY_IMG = re.compile(r"<img(?![^>]*\bsrc=)[^>]*>", re.I)
ZONES = {"UTC": 0, "GMT": 0, "Z": 0, "IST": 330, "EST": -300, "EDT": -240, "CST": -360, "CDT": -300,
         "MST": -420, "MDT": -360, "PST": -480, "PDT": -420, "CET": 60, "CEST": 120, "BST": 60, "EET": 120,
         "EEST": 180, "MSK": 180, "JST": 540, "KST": 540, "AEST": 600, "AEDT": 660, "HKT": 480, "SGT": 480,
         "WET": 0, "WEST": 60, "PKT": 300, "NZST": 720, "NZDT": 780, "AWST": 480, "ACST": 570, "SAST": 120,
         "WAT": 60, "EAT": 180, "BRT": -180, "ART": -180, "HST": -600, "AKST": -540, "AKDT": -480}
DATE_FORMATS = ("%Y/%m/%d", "%Y/%m/%d %H:%M", "%Y/%m/%d %H:%M:%S", "%d-%m-%Y %H:%M", "%d-%m-%Y %H:%M:%S",
                "%d-%m-%Y", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%d.%m.%Y %H:%M", "%d.%m.%Y", "%d %B %Y %H:%M",
                "%d %b %Y %H:%M", "%B %d, %Y %H:%M", "%b %d, %Y %H:%M", "%B %d, %Y %I:%M %p", "%B %d, %Y",
                "%b %d, %Y", "%d %B %Y", "%d %b %Y")
SUMMARY_LIMIT = 300
RFC822 = re.compile(r"^(?:[A-Za-z]{3},?\s+)?\d{1,2}\s+[A-Za-z]{3}\s+\d{2,4}\s+\d")


def canonical_url(url: str) -> str:
    """Scheme and host lower-cased, fragment and tracking parameters removed."""
    text = str(url).strip()
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        raise ValueError(f"not an http(s) URL: {text[:200]!r}") from None
    if parts.scheme.lower() not in ("http", "https") or not host or CONTROL.search(text) \
            or URL_UNSAFE.search(parts.netloc) or not HOST.match(host):
        raise ValueError(f"not an http(s) URL: {text[:200]!r}")
    path = URL_UNSAFE.sub(lambda m: quote(m[0]), parts.path) or "/"  # as a browser would send it
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not TRACKING.match(k)])
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, query, ""))


def clean_text(value: object) -> str:
    """Plain text: tags dropped, entities decoded, control and format (bidi, zero-width) characters removed,
    whitespace collapsed.

    Markup that was escaped once too often (`&lt;b&gt;`) is stripped too, so no stored text holds a tag.
    """
    if value is None:
        return ""
    text = str(value)
    for _ in range(4):
        text = html.unescape(_text_cleaner().clean(text)) if "<" in text else html.unescape(text)
        if not TAG_START.search(text) and not ENTITY.search(text):
            break
    text = TAG_START.sub(lambda m: m[0][1:], text)  # still tag-like after four rounds: lose the bracket
    text = _drop_script_schemes(FORMAT.sub("", CONTROL.sub("", unicodedata.normalize("NFC", text))))
    return " ".join(text.split())


def clean_body(value: object) -> str:
    """Article body: HTML through an allowlist (no scripts, styles, handlers, unsafe URLs or pixels), or plain text
    in paragraphs separated by blank lines."""
    if value is None:
        return ""
    raw = FORMAT.sub("", CONTROL.sub("", str(value)))
    if "<" not in raw:
        decoded = html.unescape(raw)
        if not TAG_START.search(decoded):
            paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", _drop_script_schemes(decoded))]
            return "\n\n".join(p for p in paragraphs if p)
        raw = decoded  # escaped markup: sanitize what it becomes
    cleaned = _drop_script_schemes(EMPTY_IMG.sub("", PIXEL.sub("", _body_cleaner().clean(raw))))
    return re.sub(r"[ \t]*\n\s*", "\n", cleaned).strip()


def _drop_script_schemes(text: str) -> str:
    """Removes `javascript:`/`vbscript:` before a non-space, in text too (until none is left: no re-forming)."""
    while "script:" in text.lower() and SCRIPT_SCHEME.search(text):
        text = SCRIPT_SCHEME.sub("", text)
    return text


@lru_cache(maxsize=1)
def _text_cleaner():
    import nh3

    return nh3.Cleaner(tags=set(), clean_content_tags=DROP_WITH_CONTENT, attributes={}, link_rel=None)


@lru_cache(maxsize=1)
def _body_cleaner():
    import nh3

    return nh3.Cleaner(tags=SAFE_TAGS, clean_content_tags=DROP_WITH_CONTENT, attributes=SAFE_ATTRIBUTES,
                       url_schemes={"http", "https", "mailto"}, url_relative="deny", link_rel="noopener noreferrer")


def shorten(text: str, limit: int = SUMMARY_LIMIT) -> str:
    """`text` cut at a word boundary so that it is at most `limit` characters, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] if " " in text[: limit - 1] else text[: limit - 1]
    return cut.rstrip(",;:—- ") + "…"


def derive_summary(body: str, limit: int = SUMMARY_LIMIT) -> str:
    """The first paragraph of a body (HTML or plain), cut at a word boundary to at most `limit` characters."""
    for paragraph in re.split(r"\n\s*\n|</p>|<br\s*/?>", body):
        text = clean_text(paragraph)
        if text:
            return shorten(text, limit)
    return ""


def parse_time(value: object, default_tz: tzinfo = timezone.utc) -> datetime:
    """ISO 8601, RFC 2822, 2017/2/7, 13-07-2025 02:57 IST, epoch seconds: always aware UTC.

    A time without a zone is read in `default_tz`.
    """
    try:
        return _parse_time(value, default_tz)
    except (OverflowError, OSError):
        raise ValueError(f"date out of range: {str(value)[:80]!r}") from None


def _parse_time(value: object, default_tz: tzinfo) -> datetime:
    if isinstance(value, datetime):
        parsed = value if value.tzinfo else value.replace(tzinfo=default_tz)
        return _plausible(parsed.astimezone(timezone.utc), value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _plausible(datetime.fromtimestamp(value, timezone.utc), value)
    text = " ".join(str(value or "").split())
    if not text:
        raise ValueError("empty date")
    offset = None
    match = re.fullmatch(r"(.*?)\s+\(?([A-Z]{1,5})\)?", text)
    if match and match[2] in ZONES:
        text, offset = match[1], ZONES[match[2]]
    parsed = _parse_naive_or_aware(text)
    if parsed.tzinfo is None:
        zone = timezone(timedelta(minutes=offset)) if offset is not None else default_tz
        parsed = parsed.replace(tzinfo=zone)
    return _plausible(parsed.astimezone(timezone.utc), value)


def _plausible(parsed: datetime, original: object) -> datetime:
    if not 1900 <= parsed.year <= 2200:
        raise ValueError(f"implausible date {str(original)[:80]!r}")
    return parsed


def _parse_naive_or_aware(text: str) -> datetime:
    if re.fullmatch(r"\d{9,11}(\.\d+)?", text):
        return datetime.fromtimestamp(float(text), timezone.utc)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    if RFC822.match(text):  # the feed date: try it before a score of strptime formats
        try:
            return parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            pass
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"cannot read date {text[:80]!r}") from None


def content_hash(fields: dict) -> str:
    blob = json.dumps(fields, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def split_list(value: object, *, lower: bool = True) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        items = value
    else:
        items = re.split(r"[;|]", str(value))
    cleaned = [clean_text(v) for v in items]
    return list(dict.fromkeys(v.lower() if lower else v for v in cleaned if v))
