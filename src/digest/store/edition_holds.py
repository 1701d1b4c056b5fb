"""An edition's hold (`edition.held`: NULL, "paused" or "awaiting_approval") and the operator's moves on its
deliveries from the console: the deferred ones due now; and the figures of the overview's charts (clicks,
unsubscribes and complaints per edition, list size over time).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, func, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from digest.models import (
    CountedClick, Delivery, DeliveryStatus, Edition, EditionStatus, Subscriber, SubscriberStatus, Subscription,
    SubscriptionStatus,
)
from digest.store.deliveries import DELIVERY, _move

EDITION = Edition.__table__


def hold_of(session: Session, *, edition_id: int) -> str | None:
    """The edition's hold now, read afresh (the sender asks between batches)."""
    return session.connection().execute(select(EDITION.c.held).where(EDITION.c.id == edition_id)).scalar()


def set_hold(session: Session, *, edition_id: int, held: str | None, unless: str | None = None) -> bool:
    """The edition's hold set to `held` unless it is done (or, with `unless`, already held so): True when set.
    One guarded UPDATE: a sender finishing the edition meanwhile wins."""
    where = [EDITION.c.id == edition_id, EDITION.c.status != EditionStatus.done]
    if unless is not None:
        where.append(or_(EDITION.c.held.is_(None), EDITION.c.held != unless))
    return session.connection().execute(update(EDITION).where(*where).values(held=held)).rowcount == 1


def clear_hold(session: Session, *, edition_id: int, held: str) -> bool:
    """The hold `held` lifted (another hold, e.g. awaiting approval, is left alone): True when lifted."""
    where = [EDITION.c.id == edition_id, EDITION.c.held == held]
    return session.connection().execute(update(EDITION).where(*where).values(held=None)).rowcount == 1


def reopen(session: Session, *, edition_id: int, now: datetime) -> None:
    """A done edition that has rows to send again is `sending` again (the workers' tick looks after those)."""
    session.connection().execute(update(EDITION).where(EDITION.c.id == edition_id,
                                                       EDITION.c.status == EditionStatus.done)
                                 .values(status=EditionStatus.sending, finished_at=None))


def deferred_due_now(session: Session, *, edition_id: int, now: datetime) -> list[int]:
    """The edition's deferred deliveries due at `now` (their backoff cut short): the retry job sends them."""
    return _move(session, [DELIVERY.c.edition_id == edition_id, DELIVERY.c.status == DeliveryStatus.deferred],
                 values={"next_attempt_at": now, "updated_at": now})


# ── the overview's charts ─────────────────────────────────────────────────────────────────────────────────


def clicks_per_edition(session: Session, *, keys: Sequence[str]) -> dict[str, int]:
    """Counted clicks (one per delivery and article) per edition key."""
    query = (select(Edition.key, func.count(CountedClick.id))
             .join(Delivery, Delivery.edition_id == Edition.id)
             .join(CountedClick, CountedClick.delivery_id == Delivery.id)
             .where(Edition.key.in_(list(keys))).group_by(Edition.key))
    return dict(session.exec(query).all())


def _last_before(change_time) -> object:
    """No later delivery of the same newsletter was sent to the reader before `change_time`: this one is the
    last edition they got before the change."""
    later, later_edition = aliased(Delivery), aliased(Edition)
    return ~(select(later.id).join(later_edition, later_edition.id == later.edition_id)
             .where(later.subscriber_id == Delivery.subscriber_id, later_edition.newsletter == Edition.newsletter,
                    later.status == DeliveryStatus.sent, later.sent_at > Delivery.sent_at,
                    later.sent_at <= change_time).exists())


def leavers_per_edition(session: Session, *, keys: Sequence[str]) -> tuple[dict[str, int], dict[str, int]]:
    """({edition key: unsubscribed}, {edition key: complaints}): readers the edition was sent to whose
    subscription to its newsletter is unsubscribed now (or who are `complained` now), changed after it was
    sent and before another edition of that newsletter reached them."""
    base = (select(Edition.key, func.count(Delivery.id))
            .join(Delivery, Delivery.edition_id == Edition.id)
            .where(Edition.key.in_(list(keys)), Delivery.status == DeliveryStatus.sent)
            .group_by(Edition.key))
    left = base.join(Subscription, and_(Subscription.subscriber_id == Delivery.subscriber_id,
                                        Subscription.newsletter == Edition.newsletter)).where(
        Subscription.status == SubscriptionStatus.unsubscribed, Subscription.updated_at >= Delivery.sent_at,
        _last_before(Subscription.updated_at))
    complained = base.join(Subscriber, Subscriber.id == Delivery.subscriber_id).where(
        Subscriber.status == SubscriberStatus.complained, Subscriber.updated_at >= Delivery.sent_at,
        _last_before(Subscriber.updated_at))
    return dict(session.exec(left).all()), dict(session.exec(complained).all())


def subscriptions_since(session: Session, *, newsletter: str, before: datetime) -> tuple[int, list[tuple]]:
    """(subscriptions made before `before` that are not unsubscribed or unsubscribed after it, [(created_at,
    status, updated_at)] of those made since or unsubscribed since): what the list size over time is built of."""
    sub = Subscription
    alive_then = (select(func.count(sub.id)).where(
        sub.newsletter == newsletter, sub.created_at < before,
        or_(sub.status != SubscriptionStatus.unsubscribed, sub.updated_at >= before)))
    changed = (select(sub.created_at, sub.status, sub.updated_at).where(
        sub.newsletter == newsletter,
        or_(sub.created_at >= before, and_(sub.status == SubscriptionStatus.unsubscribed, sub.updated_at >= before))))
    return session.exec(alive_then).one(), [(c, str(s), u) for c, s, u in session.exec(changed)]
