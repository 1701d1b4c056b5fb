"""What the REST API reads of the existing tables that no other query gives: a page of editions (newest
first, keyset on id) and a delivery with its edition's key.
"""

from __future__ import annotations

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
