"""Subscriptions (the `subscription` table): which newsletters a reader takes, each with its own status and the
preferences that override the reader's own (NULL: the reader's value).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import insert, update
from sqlmodel import Session, select

from digest.models import PREFERENCES, Subscription, SubscriptionStatus
from digest.store.engine import _chunks

SUBSCRIPTION = Subscription.__table__


def subscribe(session: Session, *, subscriber_ids: Sequence[int], newsletters: Sequence[str], now: datetime,
              source: str | None = None, resubscribe: bool = False) -> dict[str, int]:
    """Subscribe each reader to each newsletter: a new `active` subscription where there is none; one the
    reader left stays `unsubscribed` unless `resubscribe` (the operator's or the reader's explicit consent).
    Returns counts: new, resubscribed, left (unsubscribed ones left as they are)."""
    counts = {"new": 0, "resubscribed": 0, "left": 0}
    if not subscriber_ids or not newsletters:
        return counts
    existing = _existing(session, subscriber_ids, newsletters)
    rows, revive = [], []
    for sid in subscriber_ids:
        for key in newsletters:
            status = existing.get((sid, key))
            if status is None:
                rows.append({"subscriber_id": sid, "newsletter": key, "status": SubscriptionStatus.active,
                             "created_at": now, "updated_at": now, "source": (source or "")[:200] or None})
            elif status == SubscriptionStatus.unsubscribed and resubscribe:
                revive.append((sid, key))
            elif status == SubscriptionStatus.unsubscribed:
                counts["left"] += 1
    if rows:
        session.connection().execute(insert(SUBSCRIPTION), rows)
    for sid, key in revive:
        set_status(session, subscriber_id=sid, newsletter=key, status=SubscriptionStatus.active, now=now)
    counts["new"], counts["resubscribed"] = len(rows), len(revive)
    return counts


def _existing(session: Session, subscriber_ids: Sequence[int], newsletters: Sequence[str]
              ) -> dict[tuple[int, str], SubscriptionStatus]:
    found = {}
    for chunk in _chunks(list(dict.fromkeys(subscriber_ids)), 500):
        query = select(SUBSCRIPTION.c.subscriber_id, SUBSCRIPTION.c.newsletter, SUBSCRIPTION.c.status).where(
            SUBSCRIPTION.c.subscriber_id.in_(chunk), SUBSCRIPTION.c.newsletter.in_(list(newsletters)))
        found.update({(sid, key): SubscriptionStatus(status)
                      for sid, key, status in session.connection().execute(query)})
    return found


def set_status(session: Session, *, subscriber_id: int, newsletter: str, status: SubscriptionStatus,
               now: datetime) -> bool:
    """Join (active) or leave (unsubscribed) one newsletter; a subscription is created if there is none.
    True when something changed."""
    row = find_subscription(session, subscriber_id=subscriber_id, newsletter=newsletter)
    if row is None:
        session.add(Subscription(subscriber_id=subscriber_id, newsletter=newsletter, status=status, created_at=now,
                                 updated_at=now, source="reader"))
        session.flush()
        return True
    if row.status == status:
        return False
    row.status, row.updated_at = status, now
    session.flush()
    return True


def leave_all(session: Session, *, subscriber_id: int, now: datetime) -> int:
    """Every subscription of the reader `unsubscribed`: how many were active."""
    result = session.connection().execute(
        update(SUBSCRIPTION).where(SUBSCRIPTION.c.subscriber_id == subscriber_id,
                                   SUBSCRIPTION.c.status == SubscriptionStatus.active)
        .values(status=SubscriptionStatus.unsubscribed, updated_at=now))
    return result.rowcount


def find_subscription(session: Session, *, subscriber_id: int, newsletter: str) -> Subscription | None:
    return session.exec(select(Subscription).where(Subscription.subscriber_id == subscriber_id,
                                                   Subscription.newsletter == newsletter)).first()


def subscriptions_of(session: Session, *, subscriber_ids: Iterable[int]) -> dict[int, list[Subscription]]:
    """Each reader's subscriptions, by newsletter key."""
    found: dict[int, list[Subscription]] = defaultdict(list)
    for chunk in _chunks(list(subscriber_ids), 500):
        query = select(Subscription).where(Subscription.subscriber_id.in_(chunk)).order_by(Subscription.newsletter)
        for row in session.exec(query):
            found[row.subscriber_id].append(row)
    return found


def set_preferences(session: Session, *, subscriber_id: int, newsletter: str, values: dict, now: datetime) -> None:
    """A subscription's own preferences (None: back to the reader's own)."""
    unknown = set(values) - set(PREFERENCES)
    if unknown:
        raise ValueError(f"not a subscription preference: {sorted(unknown)}")
    if find_subscription(session, subscriber_id=subscriber_id, newsletter=newsletter) is None:
        set_status(session, subscriber_id=subscriber_id, newsletter=newsletter, status=SubscriptionStatus.active,
                   now=now)
    session.connection().execute(
        update(SUBSCRIPTION).where(SUBSCRIPTION.c.subscriber_id == subscriber_id,
                                   SUBSCRIPTION.c.newsletter == newsletter).values(updated_at=now, **values))


def newsletter_counts(session: Session) -> dict[tuple[str, str], int]:
    """(newsletter, status) → subscriptions."""
    from sqlalchemy import func

    query = select(SUBSCRIPTION.c.newsletter, SUBSCRIPTION.c.status, func.count()).group_by(
        SUBSCRIPTION.c.newsletter, SUBSCRIPTION.c.status)
    return {(key, str(status)): n for key, status, n in session.connection().execute(query)}
