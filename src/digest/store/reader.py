"""The reader's side: what the web pages, sign-ups and bounce handling ask of the store (health check, a
subscriber's status and preferences, confirmation, their deliveries and links, bounces and recent outcomes).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, select

from digest.models import Article, Delivery, DeliveryStatus, Edition, Subscriber, SubscriberStatus
from digest.store.articles import articles_by_id
from digest.store.deliveries import delivery_items
from digest.store.subscribers import find_subscriber


# ── the reader's side: web pages, sign-ups, bounces ─────────────────────────────────────────────────

def ping(session: Session) -> None:
    """Raises when the store cannot answer (for `GET /healthz`)."""
    session.exec(select(Edition.id).limit(1)).first()


def subscriber_by_id(session: Session, *, subscriber_id: int) -> Subscriber | None:
    return session.get(Subscriber, subscriber_id)


def known_topics_and_countries(session: Session, *, recent: int = 5000) -> tuple[list[str], list[str]]:
    """The topics and countries of the `recent` newest articles, sorted: what a reader can choose from."""
    query = select(Article.topics, Article.country).order_by(Article.published_at.desc()).limit(recent)
    topics: set[str] = set()
    countries: set[str] = set()
    for article_topics, country in session.exec(query):
        topics.update(t for t in article_topics or () if t)
        if country:
            countries.add(country)
    return sorted(topics, key=str.lower), sorted(countries, key=str.lower)


def set_subscriber_status(session: Session, *, subscriber_id: int, status: SubscriberStatus, now: datetime,
                          only_from: Sequence[SubscriberStatus]) -> bool:
    """Move a subscriber to `status` if their status is one of `only_from`; True when it changed."""
    result = session.exec(update(Subscriber).where(Subscriber.id == subscriber_id, Subscriber.status.in_(only_from))
                          .values(status=status, updated_at=now))
    return bool(result.rowcount)


def update_preferences(session: Session, *, subscriber_id: int, values: dict, now: datetime) -> None:
    session.exec(update(Subscriber).where(Subscriber.id == subscriber_id).values(**values, updated_at=now))


def add_pending_subscriber(session: Session, *, subscriber: Subscriber, source: str, now: datetime
                           ) -> Subscriber | None:
    """A web sign-up: a new `pending` subscriber, or an unsubscribed or pending one asked again; None when the
    address is active or suppressed (nothing to confirm, nothing to send)."""
    current = find_subscriber(session, email=subscriber.email)
    if current is not None and current.status not in (SubscriberStatus.pending, SubscriberStatus.unsubscribed):
        return None
    if current is None:
        current = subscriber
        current.created_at = now
        session.add(current)
    current.status, current.consent_source, current.updated_at = SubscriberStatus.pending, source[:200], now
    session.flush()
    return current


def confirm_subscriber(session: Session, *, subscriber_id: int, now: datetime) -> bool:
    """pending → active, recording when consent was given; True when it changed."""
    result = session.exec(update(Subscriber).where(Subscriber.id == subscriber_id,
                                                   Subscriber.status == SubscriberStatus.pending)
                          .values(status=SubscriberStatus.active, consent_at=now, updated_at=now))
    return bool(result.rowcount)


def subscriber_delivery(session: Session, *, edition_key: str, subscriber_id: int) -> tuple[Edition, Delivery] | None:
    query = (select(Edition, Delivery).join(Delivery, Delivery.edition_id == Edition.id)
             .where(Edition.key == edition_key, Delivery.subscriber_id == subscriber_id))
    return session.exec(query).first()


def delivery_links(session: Session, *, delivery_id: int, subscriber_id: int) -> dict[int, str]:
    """article id → URL of every article a delivery to this subscriber carried (leads and "also covered by")."""
    owner = session.exec(select(Delivery.subscriber_id).where(Delivery.id == delivery_id)).first()
    if owner != subscriber_id:
        return {}
    items = delivery_items(session, delivery_ids=[delivery_id]).get(delivery_id, [])
    ids = {i.article_id for i in items} | {a for i in items for a in i.why.get("also", [])}
    return {a.id: a.url for a in articles_by_id(session, ids=ids).values()}


def delivery_by_message_id(session: Session, *, message_id: str) -> Delivery | None:
    return session.exec(select(Delivery).where(Delivery.message_id == message_id)).first()


def delivery_by_id(session: Session, *, delivery_id: int) -> Delivery | None:
    return session.get(Delivery, delivery_id)


def record_bounce(session: Session, *, delivery_id: int, smtp_code: int | None, smtp_reply: str, error: str,
                  now: datetime) -> bool:
    """sent | unknown → bounced, from a bounce report; False when the delivery was not in one of those."""
    result = session.exec(update(Delivery).where(Delivery.id == delivery_id, Delivery.status.in_(
        [DeliveryStatus.sent, DeliveryStatus.unknown])).values(
        status=DeliveryStatus.bounced, smtp_code=smtp_code, smtp_reply=smtp_reply[:500], error=error[:500],
        updated_at=now))
    return bool(result.rowcount)


def recent_outcomes(session: Session, *, subscriber_id: int, limit: int = 20) -> list[tuple[str, str | None]]:
    """(status, SMTP reply) of the subscriber's latest deliveries that went out or bounced, newest first."""
    query = (select(Delivery.status, Delivery.smtp_reply)
             .where(Delivery.subscriber_id == subscriber_id, Delivery.status.in_(
                 [DeliveryStatus.sent, DeliveryStatus.unknown, DeliveryStatus.bounced]))
             .order_by(Delivery.id.desc()).limit(limit))
    return [(str(st), reply) for st, reply in session.exec(query)]
