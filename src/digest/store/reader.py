"""The reader's side: what the web pages, sign-ups and bounce handling ask of the store (health check, a
subscriber's status and preferences, confirmation, their deliveries and links, bounces and recent outcomes).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, select

from digest.models import (Article, Confirmation, ConfirmationStatus, CountedClick, Delivery, DeliveryStatus, Edition,
                           Subscriber, SubscriberStatus)
from digest.store.articles import articles_by_id
from digest.store.deliveries import delivery_items
from digest.store.subscribers import find_subscriber, is_suppressed


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
    """A web sign-up: a new `pending` subscriber, or the pending one of that address asked again; None when the
    address is active, unsubscribed or suppressed, erased included (a plain sign-up never moves a reader who left
    back to pending: the way back is the preference centre's "Resubscribe", behind a link only the reader has)."""
    current = find_subscriber(session, email=subscriber.email)
    if current is not None:
        return current if current.status == SubscriberStatus.pending else None
    if is_suppressed(session, email=subscriber.email):  # erased: only the hash of the address is left
        return None
    subscriber.status, subscriber.consent_source = SubscriberStatus.pending, source[:200]
    subscriber.created_at = subscriber.updated_at = now
    session.add(subscriber)
    session.flush()
    return subscriber


def resubscribe(session: Session, *, subscriber_id: int, now: datetime, source: str) -> bool:
    """unsubscribed → active, the reader's own decision (from a page behind their token); True when it changed.
    Bounced or complained addresses stay suppressed."""
    result = session.exec(update(Subscriber).where(Subscriber.id == subscriber_id,
                                                   Subscriber.status == SubscriberStatus.unsubscribed)
                          .values(status=SubscriberStatus.active, consent_at=now, consent_source=source[:200],
                                  updated_at=now))
    return bool(result.rowcount)


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


# ── clicks and confirmation emails ──────────────────────────────────────────────────────────────────

def _dialect_insert(session: Session, table):
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def count_click(session: Session, *, delivery_id: int, article_id: int, now: datetime) -> bool:
    """Record the click on (delivery, article); True only the first time (an atomic insert-or-nothing)."""
    statement = _dialect_insert(session, CountedClick.__table__).values(
        delivery_id=delivery_id, article_id=article_id, clicked_at=now).on_conflict_do_nothing(
        index_elements=["delivery_id", "article_id"]).returning(CountedClick.__table__.c.id)
    return session.exec(statement).first() is not None  # (rowcount is not reliable here on PostgreSQL)


def queue_confirmation(session: Session, *, subscriber_id: int, email: str, now: datetime, window: timedelta
                       ) -> Confirmation | None:
    """A `queued` confirmation row for a pending subscriber, unless one was queued within `window` (None).

    The subscriber's row is written first: that takes its lock (PostgreSQL) or the write lock (SQLite), so two
    sign-ups of one address at once are serialized and only one of them queues an email."""
    session.exec(update(Subscriber).where(Subscriber.id == subscriber_id).values(updated_at=now))
    recent = session.exec(select(Confirmation.id).where(Confirmation.subscriber_id == subscriber_id,
                                                         Confirmation.created_at > now - window)).first()
    if recent is not None:
        return None
    row = Confirmation(subscriber_id=subscriber_id, email=email, created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    return row


def sendable_confirmations(session: Session, *, now: datetime, max_age: timedelta, limit: int = 100
                           ) -> list[Confirmation]:
    """Queued confirmations to send now, oldest first; older than `max_age` they fail instead (a link that
    would be stale, or close to it, is not mailed late)."""
    session.exec(update(Confirmation).where(Confirmation.status == ConfirmationStatus.queued,
                                            Confirmation.created_at <= now - max_age)
                 .values(status=ConfirmationStatus.failed, smtp_reply="not sent in time", updated_at=now))
    query = (select(Confirmation).where(Confirmation.status == ConfirmationStatus.queued)
             .order_by(Confirmation.id).limit(limit))
    return list(session.exec(query))


def claim_confirmation(session: Session, *, confirmation_id: int, now: datetime) -> bool:
    """queued → sending; False when another sender took it first."""
    result = session.exec(update(Confirmation).where(Confirmation.id == confirmation_id,
                                                     Confirmation.status == ConfirmationStatus.queued)
                          .values(status=ConfirmationStatus.sending, attempts=Confirmation.attempts + 1,
                                  updated_at=now))
    return bool(result.rowcount)


def record_confirmation(session: Session, *, confirmation_id: int, status: ConfirmationStatus,
                        smtp_code: int | None, smtp_reply: str, message_id: str, now: datetime) -> None:
    """sending → sent | failed | queued (a temporary failure, tried again by the next sweep)."""
    session.exec(update(Confirmation).where(Confirmation.id == confirmation_id,
                                            Confirmation.status == ConfirmationStatus.sending)
                 .values(status=status, smtp_code=smtp_code, smtp_reply=smtp_reply[:500], message_id=message_id,
                         updated_at=now, sent_at=now if status == ConfirmationStatus.sent else None))


def interrupted_confirmations(session: Session, *, before: datetime, now: datetime) -> int:
    """`sending` rows older than `before` (their sender died): failed, never re-sent (it may have arrived)."""
    result = session.exec(update(Confirmation).where(Confirmation.status == ConfirmationStatus.sending,
                                                     Confirmation.updated_at < before)
                          .values(status=ConfirmationStatus.failed, smtp_reply="interrupted while sending",
                                  updated_at=now))
    return result.rowcount or 0


def confirmation_counts(session: Session) -> dict[str, int]:
    from sqlalchemy import func

    query = select(Confirmation.status, func.count()).group_by(Confirmation.status)
    return {str(status): n for status, n in session.exec(query)}
