"""Deliveries as the providers' events find them (the `delivery` table, joined to `subscriber`): the newest
delivery to an address, for an event that carries none of our ids (Postmark without Metadata)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from digest.models import Delivery, DeliveryStatus, Subscriber

REPORTABLE = (DeliveryStatus.sent, DeliveryStatus.unknown, DeliveryStatus.bounced)


def latest_delivery_to(session: Session, *, email: str, since: datetime) -> Delivery | None:
    """The newest delivery to `email` (normalised) that left since `since`, or None."""
    query = (select(Delivery).join(Subscriber, Subscriber.id == Delivery.subscriber_id)
             .where(Subscriber.email == email, Delivery.status.in_(REPORTABLE), Delivery.sent_at >= since)
             .order_by(Delivery.sent_at.desc(), Delivery.id.desc()))
    return session.exec(query).first()
