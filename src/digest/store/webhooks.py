"""The webhooks' outbox (`webhookevent`, `webhookattempt`) written by `emit`, and the endpoints
(`webhookendpoint`).

`emit(session, type=..., data=..., now=...)` is the one way an event is written: in the caller's transaction,
so an event exists exactly when the change it reports was committed. It writes one event row and one pending
attempt per enabled endpoint subscribed to `type`, and nothing when none is: which endpoints want which type
is one small query per session (cached in `session.info`), so the send path pays a SELECT per batch.
The `emit_*` helpers build the payload of one kind of change (a batch of delivery outcomes, a bounce, a
reader leaving, an edition done) only when some endpoint wants it. Claims and attempts: `webhook_outbox`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone

from sqlalchemy import delete, insert
from sqlmodel import Session, select

from digest.models import (Delivery, Edition, EditionStatus, Subscriber, WebhookAttempt, WebhookEndpoint,
                           WebhookEvent, WebhookLog, WebhookStatus)

CACHE_KEY = "digest.webhooks.wanted"
OUTCOME_EVENTS = {"sent": "delivery.sent", "failed": "delivery.failed", "bounced": "delivery.failed"}
CHUNK = 500  # ids per IN (...) query: under SQLite's variable limit


def wanted(session: Session, type: str) -> list[int]:
    """The ids of the enabled endpoints subscribed to `type` (one query per session, then cached)."""
    cache = session.info.get(CACHE_KEY)
    if cache is None:
        cache = {}
        for endpoint_id, events in session.exec(select(WebhookEndpoint.id, WebhookEndpoint.events)
                                                .where(WebhookEndpoint.enabled == True)):  # noqa: E712
            for name in events or ():
                cache.setdefault(name, []).append(endpoint_id)
        session.info[CACHE_KEY] = cache
    return cache.get(type, [])


def _forget(session: Session) -> None:
    session.info.pop(CACHE_KEY, None)


def timestamp(now: datetime) -> str:
    return now.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def emit(session: Session, *, type: str, data: Mapping, now: datetime,
         endpoint_ids: Sequence[int] | None = None) -> int | None:
    """Write one event of `type` and a pending attempt for each endpoint that wants it (`endpoint_ids`: these
    endpoints, whatever they subscribed to); the event's id, or None when nobody wants it (nothing written)."""
    ids = emit_many(session, type=type, items=[data], now=now, endpoint_ids=endpoint_ids)
    return ids[0] if ids else None


def emit_many(session: Session, *, type: str, items: Sequence[Mapping], now: datetime,
              endpoint_ids: Sequence[int] | None = None) -> list[int]:
    """`emit` for many changes of one type at once (a batch's outcomes): the events' ids."""
    endpoints = list(wanted(session, type) if endpoint_ids is None else endpoint_ids)
    if not endpoints or not items:
        return []
    at = timestamp(now)
    ids = list(session.execute(  # Core, not ORM objects: a batch's events cost one multi-row INSERT ... RETURNING
        insert(WebhookEvent).returning(WebhookEvent.id, sort_by_parameter_order=True),
        [{"type": type, "payload": {"type": type, "timestamp": at, "data": dict(d)}, "created_at": now}
         for d in items]).scalars())
    session.execute(insert(WebhookAttempt), [
        {"endpoint_id": e, "event_id": i, "status": WebhookStatus.pending, "attempts": 0, "next_attempt_at": now}
        for i in ids for e in endpoints])
    return ids


def _delivery_facts(session: Session, delivery_ids: Sequence[int]) -> dict[int, dict]:
    found: dict[int, dict] = {}
    for start in range(0, len(delivery_ids), CHUNK):
        rows = session.exec(
            select(Delivery.id, Delivery.message_id, Delivery.subscriber_id, Subscriber.email, Edition.key,
                   Edition.newsletter, Delivery.smtp_code, Delivery.smtp_reply)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id).join(Edition, Edition.id == Delivery.edition_id)
            .where(Delivery.id.in_(delivery_ids[start:start + CHUNK])))
        for d_id, message_id, sub_id, email, key, newsletter, code, reply in rows:
            found[d_id] = {"delivery_id": d_id, "message_id": message_id, "subscriber_id": sub_id, "email": email,
                           "edition": key, "newsletter": newsletter, "smtp_code": code, "smtp_reply": reply}
    return found


def emit_outcomes(session: Session, *, outcomes: Sequence[Mapping], now: datetime) -> int:
    """A batch's recorded outcomes (the send path's dicts: id, status, smtp_code, smtp_reply, error): sent →
    `delivery.sent`; failed, or bounced at RCPT → `delivery.failed`. Nothing at all read when nobody wants them."""
    by_type: dict[str, list[Mapping]] = {}
    for outcome in outcomes:
        name = OUTCOME_EVENTS.get(str(outcome["status"]))
        if name is not None and wanted(session, name):
            by_type.setdefault(name, []).append(outcome)
    if not by_type:
        return 0
    facts = _delivery_facts(session, [o["id"] for group in by_type.values() for o in group])
    written = 0
    for name, group in by_type.items():
        items = [{**facts[o["id"]], "status": str(o["status"]), "smtp_code": o.get("smtp_code"),
                  "smtp_reply": o.get("smtp_reply"), "error": o.get("error")} for o in group if o["id"] in facts]
        written += len(emit_many(session, type=name, items=items, now=now))
    return written


def emit_delivery(session: Session, *, type: str, delivery_id: int, now: datetime, **extra) -> int | None:
    """One delivery's event (`delivery.bounced`: a bounce report applied), its smtp code and reply as recorded."""
    if not wanted(session, type):
        return None
    facts = _delivery_facts(session, [delivery_id]).get(delivery_id)
    return None if facts is None else emit(session, type=type, data={**facts, **extra}, now=now)


def emit_subscriber(session: Session, *, type: str, now: datetime, subscriber_id: int | None = None,
                    email: str | None = None, **extra) -> int | None:
    """A reader's event (`subscriber.unsubscribed`, `subscriber.complained`), the reader by id or address: their
    id and address, and `extra` (newsletter: the one they left, or None for every one; source: how)."""
    if not wanted(session, type):
        return None
    sub = (session.get(Subscriber, subscriber_id) if subscriber_id is not None else
           session.exec(select(Subscriber).where(Subscriber.email == email)).first())
    if sub is None:
        return None
    return emit(session, type=type, data={"subscriber_id": sub.id, "email": sub.email, **extra}, now=now)


def emit_edition_done(session: Session, *, edition_id: int, counts: Mapping[str, int], now: datetime) -> int | None:
    """`edition.done`, once per time the edition becomes done (call it before it is marked)."""
    if not wanted(session, "edition.done"):
        return None
    edition = session.get(Edition, edition_id)
    if edition is None or edition.status == EditionStatus.done:
        return None
    return emit(session, type="edition.done", now=now, data={
        "edition": edition.key, "newsletter": edition.newsletter, "date": edition.date,
        "period": str(edition.period), "counts": dict(counts)})


# ── the endpoints ─────────────────────────────────────────────────────────────────────────────────────

def add_endpoint(session: Session, *, url: str, name: str, secret: str, events: Sequence[str],
                 now: datetime) -> WebhookEndpoint:
    endpoint = WebhookEndpoint(url=url, name=name, secret=secret, events=list(events), created_at=now)
    session.add(endpoint)
    session.flush()
    _forget(session)
    return endpoint


def endpoints(session: Session) -> list[WebhookEndpoint]:
    return list(session.exec(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def find_endpoint(session: Session, *, ref: str) -> WebhookEndpoint | None:
    """The endpoint with this id (digits) or URL (the oldest, if the URL was added twice)."""
    if ref.isdigit():
        return session.get(WebhookEndpoint, int(ref))
    return session.exec(select(WebhookEndpoint).where(WebhookEndpoint.url == ref)
                        .order_by(WebhookEndpoint.id)).first()


def delete_endpoint(session: Session, *, endpoint_id: int) -> None:
    """The endpoint, its attempts and their log; the events stay for the other endpoints."""
    attempts = select(WebhookAttempt.id).where(WebhookAttempt.endpoint_id == endpoint_id)
    session.exec(delete(WebhookLog).where(WebhookLog.attempt_id.in_(attempts)))
    session.exec(delete(WebhookAttempt).where(WebhookAttempt.endpoint_id == endpoint_id))
    session.exec(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id))
    _forget(session)


def set_enabled(session: Session, *, endpoint_id: int, enabled: bool, reason: str | None = None) -> None:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    endpoint.enabled, endpoint.disabled_reason = enabled, None if enabled else reason
    endpoint.failing_since = None if enabled else endpoint.failing_since
    session.flush()
    _forget(session)


def forget_subscriber(session: Session, *, subscriber_id: int) -> int:
    """GDPR erasure: the outbox's events about this reader (their address is in the payload) go, with their
    attempts and log, delivered or not. How many events."""
    about = list(session.exec(select(WebhookEvent.id).where(
        WebhookEvent.payload[("data", "subscriber_id")].as_integer() == subscriber_id)))
    for start in range(0, len(about), CHUNK):
        chunk = about[start:start + CHUNK]
        attempts = select(WebhookAttempt.id).where(WebhookAttempt.event_id.in_(chunk))
        session.exec(delete(WebhookLog).where(WebhookLog.attempt_id.in_(attempts)))
        session.exec(delete(WebhookAttempt).where(WebhookAttempt.event_id.in_(chunk)))
        session.exec(delete(WebhookEvent).where(WebhookEvent.id.in_(chunk)))
    return len(about)
