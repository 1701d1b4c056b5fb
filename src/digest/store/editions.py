"""Editions (the `edition` table): find or create one, its status and deadline, the dates it covers, the editions
with retries due, and pruning (an edition is deleted with its deliveries and their items).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, select

from digest.models import Delivery, DeliveryItem, DeliveryStatus, Edition, EditionStatus
from digest.store.deliveries import DELIVERY


def find_edition(session: Session, *, key: str) -> Edition | None:
    return session.exec(select(Edition).where(Edition.key == key)).first()


def ensure_edition(session: Session, *, key: str, period: str, date: str, cutoff_at: datetime,
                   now: datetime, newsletter: str) -> Edition:
    edition = find_edition(session, key=key)
    if edition is None:
        edition = Edition(key=key, newsletter=newsletter, period=period, date=date, cutoff_at=cutoff_at,
                          created_at=now)
        session.add(edition)
        session.flush()
    return edition


def edition_by_id(session: Session, *, edition_id: int) -> Edition | None:
    return session.get(Edition, edition_id)


def editions_in_status(session: Session, *, status: EditionStatus | Sequence[EditionStatus]) -> list[Edition]:
    statuses = [status] if isinstance(status, EditionStatus) else list(status)
    return list(session.exec(select(Edition).where(Edition.status.in_(statuses)).order_by(Edition.id)))


def mark_edition(session: Session, *, edition_id: int, status: EditionStatus, now: datetime) -> None:
    edition = session.get(Edition, edition_id)
    edition.status = status
    if status == EditionStatus.sending:
        edition.started_at = edition.started_at or now
        edition.finished_at = None  # rows planned after it looked done (a later time zone's slot)
    if status == EditionStatus.done:
        edition.finished_at = now
    session.flush()


def editions_for_date(session: Session, *, date: str, newsletter: str | None = None) -> list[Edition]:
    query = select(Edition).where(Edition.date == date)
    if newsletter is not None:
        query = query.where(Edition.newsletter == newsletter)
    return list(session.exec(query.order_by(Edition.key)))


def latest_edition_date(session: Session, *, newsletter: str | None = None) -> str | None:
    query = select(Edition.date)
    if newsletter is not None:
        query = query.where(Edition.newsletter == newsletter)
    return session.exec(query.order_by(Edition.created_at.desc()).limit(1)).first()


def extend_deadline(session: Session, *, edition_id: int, deadline: datetime) -> datetime:
    """An edition's deadline only ever moves later (an operator's `digest send` restarts the clock)."""
    edition = session.get(Edition, edition_id)
    if edition.deadline_at is None or edition.deadline_at < deadline:
        edition.deadline_at = deadline
        session.flush()
    return edition.deadline_at


def editions_with_due_retries(session: Session, *, now: datetime) -> list[Edition]:
    query = (select(Edition).join(Delivery, Delivery.edition_id == Edition.id)
             .where(Delivery.status == DeliveryStatus.deferred, Delivery.next_attempt_at <= now).distinct())
    return list(session.exec(query.order_by(Edition.id)))


def prunable_editions(session: Session, *, before: str) -> list[Edition]:
    """Editions dated before `before` (ISO date) with nothing left to send: what retention may delete."""
    open_rows = select(Delivery.id).where(Delivery.edition_id == Edition.id,
                                         Delivery.status.in_([DeliveryStatus.queued, DeliveryStatus.sending,
                                                              DeliveryStatus.deferred]))
    query = select(Edition).where(Edition.date < before, ~open_rows.exists()).order_by(Edition.date, Edition.id)
    return list(session.exec(query))


def delete_edition_rows(session: Session, *, edition_id: int, chunk: int = 5000) -> tuple[int, int]:
    """Delete up to `chunk` of the edition's deliveries with their items: (deliveries, items) deleted.

    Call it until it returns (0, 0), committing in between, then delete the edition itself."""
    conn = session.connection()
    ids = [r[0] for r in conn.execute(select(DELIVERY.c.id).where(DELIVERY.c.edition_id == edition_id).limit(chunk))]
    if not ids:
        return 0, 0
    items = conn.execute(DeliveryItem.__table__.delete().where(DeliveryItem.__table__.c.delivery_id.in_(ids))).rowcount
    conn.execute(DELIVERY.delete().where(DELIVERY.c.id.in_(ids)))
    return len(ids), items


def delete_edition(session: Session, *, edition_id: int) -> None:
    session.connection().execute(Edition.__table__.delete().where(Edition.__table__.c.id == edition_id))


def _went_out():
    """An edition went out when it is sending or done and at least one of its deliveries is `sent`."""
    sent = select(Delivery.id).where(Delivery.edition_id == Edition.id, Delivery.status == DeliveryStatus.sent)
    return Edition.status.in_([EditionStatus.sending, EditionStatus.done]) & sent.exists()


def sent_editions(session: Session, *, newsletter: str, limit: int | None = None) -> list[Edition]:
    """A newsletter's editions that went out, newest first (by date, then the later-made one first)."""
    query = (select(Edition).where(Edition.newsletter == newsletter, _went_out())
             .order_by(Edition.date.desc(), Edition.id.desc()))
    return list(session.exec(query.limit(limit) if limit else query))


def sent_edition(session: Session, *, key: str) -> Edition | None:
    """The edition `key` if it went out (see `sent_editions`), else None."""
    return session.exec(select(Edition).where(Edition.key == key, _went_out())).first()


def has_deliveries(session: Session, *, edition_id: int) -> bool:
    return session.exec(select(Delivery.id).where(Delivery.edition_id == edition_id).limit(1)).first() is not None


def set_held(session: Session, *, edition_id: int, held: str | None) -> None:
    """Hold the edition ("awaiting_approval", "paused") or release it (None)."""
    session.exec(update(Edition).where(Edition.id == edition_id).values(held=held))
