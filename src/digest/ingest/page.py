"""HTML article pages through trafilatura: the main text and the page's metadata, as one article.

trafilatura drops navigation, boilerplate and comments and reads title, date, author, site name and
categories from the page's metadata (OpenGraph, JSON-LD, meta tags). Its plain-text paragraphs become the
body, so no markup from the page is ever stored.
"""

from __future__ import annotations

import logging
from datetime import datetime, tzinfo

from digest.ingest.article import Batch, Rejected, page_article
from digest.ingest.normalize import parse_time

QUIET = ("trafilatura", "htmldate", "courlan", "justext", "readability")
DATE_PARAMS = {"outputformat": "%Y-%m-%dT%H:%M:%S%z", "original_date": True, "extensive_search": False}


def parse_html_page(name: str, data: bytes, *, default_tz: tzinfo, now: datetime, url: str | None = None) -> Batch:
    """The page's article, or its rejection (no main text found, no title, no address)."""
    try:
        values = _extract(data, url)
        article = page_article(values, url=url, default_tz=default_tz, now=now)
    except ValueError as exc:
        return Batch(name, rejected=(Rejected(name, "page", str(exc)),))
    return Batch(name, articles=(article,))


def _extract(data: bytes, url: str | None) -> dict[str, object]:
    import trafilatura

    for logger in QUIET:
        logging.getLogger(logger).setLevel(logging.CRITICAL)
    try:
        doc = trafilatura.bare_extraction(data, url=url, with_metadata=True, include_comments=False,
                                          include_tables=False, output_format="python",
                                          date_extraction_params=DATE_PARAMS)
    except RecursionError:
        raise ValueError("page: nested too deeply to read") from None
    except Exception as exc:  # lxml and friends on hostile bytes: a rejection, never a traceback
        raise ValueError(f"page: cannot read ({type(exc).__name__})") from None
    if doc is None or not (doc.text or "").strip():
        raise ValueError("page: no article text found")
    paragraphs = [p.strip() for p in doc.text.split("\n") if p.strip()]
    if paragraphs and paragraphs[0] == (doc.title or "").strip():
        paragraphs = paragraphs[1:]
    return {
        "title": doc.title, "url": doc.url, "summary": doc.description, "body": "\n\n".join(paragraphs),
        "source": doc.sitename, "author": doc.author, "topics": list(doc.categories or []) + list(doc.tags or []),
        "image_url": doc.image, "published": _date(doc.date),
    }


def _date(value: object) -> str | None:
    """trafilatura's date, as text our parser reads; a date it could not find is absent."""
    text = str(value or "").strip()
    try:
        return parse_time(text) and text
    except ValueError:
        return None
