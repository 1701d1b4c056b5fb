"""The web's sign-up queue (the `confirmation` table): one double opt-in email per address per window, queued before
it is sent, claimed, recorded, failed when too old or interrupted, and counted.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlmodel import Session, select

from digest.models import Confirmation, ConfirmationStatus, Subscriber


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
    query = select(Confirmation.status, func.count()).group_by(Confirmation.status)
    return {str(status): n for status, n in session.exec(query)}
