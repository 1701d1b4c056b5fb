"""What the REST API reads of the existing tables that no other query gives: a page of editions (newest
first, keyset on id), a delivery with its edition's key, a subscriber's last deliveries.
"""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, select

from digest.models import Delivery, Edition


def edition_page(session: Session, *, before: int | None = None, date: str | None = None,
                 newsletter: str | None = None, size: int = 50) -> list[Edition]:
    """Up to `size` editions with id < `before` (all when None), newest first."""
    query = select(Edition)
    if before is not None:
        query = query.where(Edition.id < before)
    if date:
        query = query.where(Edition.date == date)
    if newsletter:
        query = query.where(Edition.newsletter == newsletter)
    return list(session.exec(query.order_by(Edition.id.desc()).limit(size)))


def delivery_with_edition(session: Session, *, message_id: str) -> tuple[str, Delivery] | None:
    """(edition key, delivery) of the delivery sent with that Message-ID."""
    row = session.exec(select(Edition.key, Delivery).join(Edition, Edition.id == Delivery.edition_id)
                       .where(Delivery.message_id == message_id)).first()
    return None if row is None else (row[0], row[1])


def subscriber_deliveries(session: Session, *, subscriber_id: int, limit: int = 100
                          ) -> tuple[list[tuple[str, Delivery]], int]:
    """The subscriber's last `limit` deliveries, newest first, as (edition key, delivery), and how many there are."""
    rows = session.exec(select(Edition.key, Delivery).join(Edition, Edition.id == Delivery.edition_id)
                        .where(Delivery.subscriber_id == subscriber_id).order_by(Delivery.id.desc()).limit(limit)).all()
    total = session.exec(select(func.count()).select_from(Delivery).where(Delivery.subscriber_id == subscriber_id))
    return [(row[0], row[1]) for row in rows], int(total.one())
