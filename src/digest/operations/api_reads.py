"""The REST API's reads of the editions and deliveries, and its events: a page of editions, each with the
figures `digest status --json` gives it (`operations.status`), one edition by key, a subscriber's deliveries
or the one of a Message-ID, and engagement events stored by the rules of `POST /events`.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date

from sqlalchemy.engine import Engine

from digest import store
from digest.errors import InputError
from digest.ingest.events import parse_events
from digest.ingest.tabular import rows_from_bytes
from digest.operations.api_common import (
    DELIVERY_FIELDS, ApiProblem, decode_cursor, encode_cursor, fields, invalid, not_found, page_limit,
)
from digest.operations.reader import add_events
from digest.operations.status import _summary as edition_summary  # the very figures of `digest status`

DELIVERIES_SHOWN = 100
MAX_ID = 2**31 - 1  # a larger id names nothing (32-bit ids on PostgreSQL)


def _edition_doc(session, edition) -> dict:
    return {**asdict(edition_summary(session, edition)), "date": edition.date, "period": str(edition.period)}


def list_editions(engine: Engine, *, day: str = "", newsletter: str = "", cursor: str | None = None,
                  limit: str | None = None) -> dict:
    """Newest first; each edition as an entry of `digest status --json`'s `editions`, with its date and period."""
    if day:
        try:
            date.fromisoformat(day)
        except ValueError:
            raise invalid("date", f"expected YYYY-MM-DD, got {day[:20]!r}") from None
    before, size = decode_cursor(cursor), page_limit(limit, 20)
    with store.read_session(engine) as session:
        rows = store.api_reads.edition_page(session, before=before, date=day or None, newsletter=newsletter or None,
                                            size=size + 1)
        docs = [_edition_doc(session, e) for e in rows[:size]]
    return {"editions": docs, "next_cursor": encode_cursor(rows[size - 1].id) if len(rows) > size else None}


def edition(engine: Engine, key: str) -> dict:
    with store.read_session(engine) as session:
        found = store.editions.find_edition(session, key=key)
        doc = None if found is None else _edition_doc(session, found)
    if doc is None:
        raise not_found(f"edition {key[:80]!r}")
    return doc


def deliveries(engine: Engine, *, subscriber: str | None = None, message_id: str | None = None) -> dict:
    """A subscriber's last DELIVERIES_SHOWN deliveries (newest first) and how many there are, or the one
    delivery sent with `message_id` (with or without its angle brackets)."""
    if (subscriber is None) == (message_id is None):
        raise ApiProblem(422, "invalid", "subscriber: give subscriber or message_id (one of them)", "subscriber")
    with store.read_session(engine) as session:
        if message_id is not None:
            found = store.api_reads.delivery_with_edition(session, message_id=_bracketed(message_id))
            rows, total = ([found], 1) if found else ([], 0)
        else:
            if not subscriber.isdigit():
                raise invalid("subscriber", f"expected a subscriber id, got {subscriber[:20]!r}")
            if int(subscriber) > MAX_ID or store.subscribers.subscriber_by_id(
                    session, subscriber_id=int(subscriber)) is None:
                raise not_found(f"subscriber {subscriber}")
            rows, total = store.api_reads.subscriber_deliveries(session, subscriber_id=int(subscriber),
                                                                limit=DELIVERIES_SHOWN)
    return {"deliveries": [{"edition": key, **fields(d, DELIVERY_FIELDS)} for key, d in rows], "total": total}


def _bracketed(message_id: str) -> str:
    value = message_id.strip()
    return value if value.startswith("<") else f"<{value}>"


def store_events(engine: Engine, body: bytes) -> dict:
    """JSON Lines, or a JSON list, of {url | article_id, kind, count, at}: all or nothing (`POST /events`)."""
    fmt = "json" if body.lstrip().startswith(b"[") else "jsonl"
    try:
        rows = parse_events(rows_from_bytes("body", body, fmt), "body")
        buckets = add_events(engine, rows)
    except InputError as exc:
        lines = str(exc).splitlines()
        raise ApiProblem(422, "invalid", "; ".join(lines[:20]), "body") from None
    return {"events": len(rows), "buckets": buckets}
