"""One reader's record in the console: their fields, subscriptions (with each newsletter's overrides), consent
(consent_at and source, the confirmation emails), a status history assembled from those records, their
deliveries a page at a time (newest first) with every item and its stored reasons, their bounces and their
counted clicks.

The history is not a log (the store keeps none): it lists the times the rows hold, each with what it means,
and says so. A row changed twice shows only its last change (`updated_at`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.engine import Engine

from digest import store
from digest.models import DeliveryStatus, SubscriberStatus
from digest.store import readers as reader_store

DELIVERIES_SHOWN = 20  # a page of deliveries, each with its items
CLICKS_SHOWN = 200
READER_FIELDS = ("id", "email", "name", "status", "topics", "countries", "frequency", "weekday", "send_at",
                 "timezone", "max_items", "format", "created_at", "updated_at", "consent_at", "consent_source",
                 "paused_until")
SUBSCRIPTION_FIELDS = ("newsletter", "status", "frequency", "weekday", "send_at", "topics", "countries",
                       "max_items", "format", "created_at", "updated_at", "source")
OVERRIDES = ("frequency", "weekday", "send_at", "topics", "countries", "max_items", "format")
DELIVERY_FIELDS = ("id", "status", "smtp_code", "smtp_reply", "message_id", "sent_at", "attempts", "error",
                   "created_at", "updated_at")
CONFIRMATION_FIELDS = ("id", "status", "created_at", "sent_at", "smtp_code", "smtp_reply", "message_id")
# sent: a second copy (the operator's resend); failed, bounced, unknown: again, as `digest deliveries requeue` would
RESENDABLE = (DeliveryStatus.sent, DeliveryStatus.failed, DeliveryStatus.bounced, DeliveryStatus.unknown)
RESEND_NOTE = "resent by"  # how a delivery queued again for a resend says so in its `error`
HISTORY_NOTE = ("Assembled from the records the store holds (the reader's row, their subscriptions, confirmation "
                "emails, suppression record and bounced deliveries); the store keeps no log of changes, so a row "
                "changed twice shows only its last change. Complaints are recorded only as the reader's status.")


def _plain(value):
    if isinstance(value, (datetime, date, int, float, str, list, dict, type(None))) and not hasattr(value, "value"):
        return value
    return str(value)


def fields(row, names) -> dict:
    return {name: _plain(getattr(row, name)) for name in names}


@dataclass(frozen=True)
class ReaderDetail:
    reader: dict
    subscriptions: list[dict]  # each with `overrides`: {preference: value} where it differs from the reader's
    consent: dict  # consent_at, consent_source, confirmations
    history: list[dict]  # {"at", "event", "detail"}, oldest first
    deliveries: list[dict]  # newest first, at most DELIVERIES_SHOWN, each with `items` and `clicks`
    delivery_count: int  # all of them
    next_before: int | None  # the `before` of the next (older) page; None: this is the last
    bounces: list[dict]
    clicks: list[dict]  # the CLICKS_SHOWN newest counted clicks
    suppression: dict | None

    def doc(self) -> dict:
        return {"reader": self.reader, "subscriptions": self.subscriptions, "consent": self.consent,
                "history": self.history, "history_note": HISTORY_NOTE, "deliveries": self.deliveries,
                "delivery_count": self.delivery_count, "next_before": self.next_before, "bounces": self.bounces,
                "clicks": self.clicks, "suppression": self.suppression}


def reader_detail(engine: Engine, subscriber_id: int, *, before: int | None = None) -> ReaderDetail | None:
    """The reader's record; `before`: their deliveries older than that delivery id (None: the newest)."""
    with store.read_session(engine) as session:
        sub = store.subscribers.subscriber_by_id(session, subscriber_id=subscriber_id)
        if sub is None:
            return None
        reader = fields(sub, READER_FIELDS)
        subs = store.subscriptions.subscriptions_of(session, subscriber_ids=[subscriber_id]).get(subscriber_id, [])
        subscriptions = [_subscription(s, reader) for s in sorted(subs, key=lambda s: s.newsletter)]
        rows, total = reader_store.reader_deliveries(session, subscriber_id=subscriber_id,
                                                     limit=DELIVERIES_SHOWN + 1, before=before)
        shown = rows[:DELIVERIES_SHOWN]
        shown_ids = [d.id for *_, d in shown]
        items = reader_store.delivered_items(session, delivery_ids=shown_ids)
        clicked = reader_store.delivery_clicks(session, delivery_ids=shown_ids)
        clicks = [_click(c) for c in reader_store.reader_clicks(session, subscriber_id=subscriber_id,
                                                                limit=CLICKS_SHOWN)]
        bounces = [{"edition": key, **fields(d, DELIVERY_FIELDS)}
                   for key, d in reader_store.reader_bounces(session, subscriber_id=subscriber_id)]
        confirmations = [fields(c, CONFIRMATION_FIELDS)
                         for c in reader_store.reader_confirmations(session, subscriber_id=subscriber_id)]
        record = reader_store.suppression_of(session, email=sub.email)
        suppression = None if record is None else fields(record, ("reason", "created_at", "updated_at"))
        deliveries = [_delivery(key, day, d, items, clicked) for key, day, d in shown]
        older = shown[-1][-1].id if len(rows) > DELIVERIES_SHOWN else None
    consent = {"consent_at": reader["consent_at"], "consent_source": reader["consent_source"],
               "confirmations": confirmations}
    return ReaderDetail(reader, subscriptions, consent,
                        history(reader, subscriptions, confirmations, suppression, bounces, deliveries), deliveries,
                        total, older, bounces, clicks, suppression)


def _subscription(s, reader: dict) -> dict:
    row = fields(s, SUBSCRIPTION_FIELDS)
    row["overrides"] = {p: row[p] for p in OVERRIDES if row[p] is not None and row[p] != reader[p]}
    row["effective"] = {p: reader[p] if row[p] is None else row[p] for p in OVERRIDES}
    return row


def _click(row) -> dict:
    delivery_id, edition, article_id, title, url, at = row
    return {"delivery_id": delivery_id, "edition": edition, "article_id": article_id, "title": title, "url": url,
            "clicked_at": at}


def _delivery(key: str, day: str, d, items: list[tuple], clicked: dict) -> dict:
    own = [{"section": section, "position": position, "score": score, "why": why or {}, "article_id": article_id,
            "title": title, "url": url, "clicked_at": clicked.get((d.id, article_id))}
           for delivery_id, section, position, score, why, article_id, title, url in items if delivery_id == d.id]
    return {"edition": key, "edition_date": day, **fields(d, DELIVERY_FIELDS), "items": own,
            "clicks": sum(1 for delivery_id, _ in clicked if delivery_id == d.id),
            "resend": str(d.status) in RESENDABLE}


def _event(at, event: str, detail: str = "") -> dict:
    return {"at": at, "event": event, "detail": detail}


def history(reader: dict, subscriptions: list[dict], confirmations: list[dict], suppression: dict | None,
            bounces: list[dict], deliveries: list[dict]) -> list[dict]:
    """What the rows say happened, oldest first (see HISTORY_NOTE); a resend while it waits to be sent."""
    first = min(subscriptions, key=lambda s: s["created_at"], default=None)
    source = (first or {}).get("source") or reader["consent_source"] or "not recorded"
    events = [_event(reader["created_at"], "reader created", f"source: {source}")]
    if reader["consent_at"]:
        events.append(_event(reader["consent_at"], "consent recorded",
                             f"source: {reader['consent_source'] or 'not recorded'}"))
    for c in confirmations:
        events.append(_event(c["created_at"], "confirmation email queued", f"now {c['status']}"))
        if c["sent_at"]:
            events.append(_event(c["sent_at"], "confirmation email sent", c["message_id"] or ""))
    for s in subscriptions:
        events.append(_event(s["created_at"], f"subscribed to {s['newsletter']}", f"source: {s['source'] or 'not recorded'}"))
        if s["updated_at"] != s["created_at"]:
            events.append(_event(s["updated_at"], f"subscription to {s['newsletter']} last changed",
                                 f"now {s['status']}"))
    if reader["status"] != SubscriberStatus.active or reader["updated_at"] != reader["created_at"]:
        events.append(_event(reader["updated_at"], "reader's row last changed", f"status now {reader['status']}"))
    if suppression:
        events.append(_event(suppression["created_at"], "suppression recorded", f"reason: {suppression['reason']}"))
        if suppression["updated_at"] != suppression["created_at"]:
            events.append(_event(suppression["updated_at"], "suppression last changed",
                                 f"reason now: {suppression['reason']}"))
    for b in bounces:
        events.append(_event(b["updated_at"], f"bounced: {b['edition']}",
                             f"{b['smtp_code'] or ''} {b['smtp_reply'] or b['error'] or ''}".strip()))
    for d in deliveries:
        if d["status"] == DeliveryStatus.queued and (d["error"] or "").startswith(RESEND_NOTE):
            events.append(_event(d["updated_at"], f"resend of {d['edition']} queued", d["error"]))
    return sorted(events, key=lambda e: e["at"])
