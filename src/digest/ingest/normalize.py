"""Normalising what sources give us: URLs, text, HTML, times."""

from __future__ import annotations

import hashlib
import html
import json
import re
import unicodedata
from datetime import datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

TRACKING = re.compile(r"^(utm_[a-z]+|fbclid|gclid|mc_cid|mc_eid|ocid|cmpid|at_medium|at_campaign|ref|cid)$", re.I)
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\ufeff]")
SAFE_TAGS = {"p", "br", "strong", "em", "b", "i", "a", "ul", "ol", "li", "blockquote", "h2", "h3", "h4"}
ZONES = {"UTC": 0, "GMT": 0, "Z": 0, "IST": 330, "EST": -300, "EDT": -240, "CST": -360, "CDT": -300,
         "MST": -420, "MDT": -360, "PST": -480, "PDT": -420, "CET": 60, "CEST": 120, "BST": 60, "EET": 120,
         "EEST": 180, "MSK": 180, "JST": 540, "KST": 540, "AEST": 600, "AEDT": 660, "HKT": 480, "SGT": 480}


def canonical_url(url: str) -> str:
    """Scheme and host lower-cased, fragment and tracking parameters removed."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) URL: {url!r}")
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not TRACKING.match(k)])
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", query, ""))


def clean_text(value: object) -> str:
    """Plain text: tags dropped, entities decoded, control characters removed, whitespace collapsed."""
    if value is None:
        return ""
    import nh3

    text = html.unescape(nh3.clean(str(value), tags=set()))
    text = CONTROL.sub("", unicodedata.normalize("NFC", text))
    return " ".join(text.split())


def clean_body(value: object) -> str:
    """Article body: HTML through an allowlist (no scripts, styles, handlers or unsafe URLs) or plain text."""
    if value is None:
        return ""
    import nh3

    raw = CONTROL.sub("", str(value))
    if "<" not in raw:
        paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", raw)]
        return "\n\n".join(p for p in paragraphs if p)
    return nh3.clean(raw, tags=SAFE_TAGS, attributes={"a": {"href", "title"}}, url_schemes={"http", "https", "mailto"},
                     link_rel="noopener noreferrer").strip()


def derive_summary(body: str, limit: int = 300) -> str:
    first = clean_text(re.split(r"\n\s*\n|</p>", body, maxsplit=1)[0])
    if len(first) <= limit:
        return first
    cut = first[: limit - 1].rsplit(" ", 1)[0]
    return cut.rstrip(",;:—-") + "…"


def parse_time(value: object, default_tz: tzinfo = timezone.utc) -> datetime:
    """ISO 8601, RFC 2822, 2017/2/7, 13-07-2025 02:57 IST, epoch seconds: always aware UTC."""
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc)
    text = " ".join(str(value or "").split())
    if not text:
        raise ValueError("empty date")
    offset = None
    match = re.fullmatch(r"(.*?)\s+([A-Z]{1,4})", text)
    if match and match[2] in ZONES:
        text, offset = match[1], ZONES[match[2]]
    parsed = _parse_naive_or_aware(text)
    if parsed.tzinfo is None:
        if offset is not None:
            parsed = parsed.replace(tzinfo=timezone(timedelta(minutes=offset)))
        else:
            parsed = parsed.replace(tzinfo=default_tz)
    return parsed.astimezone(timezone.utc)


def _parse_naive_or_aware(text: str) -> datetime:
    if re.fullmatch(r"\d{9,11}(\.\d+)?", text):
        return datetime.fromtimestamp(float(text), timezone.utc)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    for fmt in ("%Y/%m/%d", "%Y/%m/%d %H:%M", "%Y/%m/%d %H:%M:%S", "%d-%m-%Y %H:%M", "%d-%m-%Y",
                "%d/%m/%Y %H:%M", "%d.%m.%Y %H:%M", "%d %B %Y %H:%M", "%d %b %Y %H:%M", "%B %d, %Y %H:%M",
                "%B %d, %Y", "%d %B %Y"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"cannot read date {text!r}") from None


def content_hash(fields: dict) -> str:
    blob = json.dumps(fields, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def split_list(value: object, *, lower: bool = True) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        items = value
    else:
        items = re.split(r"[;|]", str(value))
    cleaned = [clean_text(v) for v in items]
    return [v.lower() if lower else v for v in cleaned if v]
