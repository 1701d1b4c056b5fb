"""An edition's hold (`edition.held`: NULL, "paused" or "awaiting_approval") and the operator's moves on its
deliveries from the console: the deferred ones due now; and the figures of the overview's charts (clicks,
unsubscribes and complaints per edition, list size over time).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from sqlalchemy import func, update
from sqlmodel import Session, select

from digest.models import (
    CountedClick, Delivery, DeliveryStatus, Edition, EditionStatus, Subscriber, SubscriberStatus, Subscription,
    SubscriptionStatus,
)
from digest.store.deliveries import DELIVERY, _move
from digest.store.engine import _chunks

EDITION = Edition.__table__


def hold_of(session: Session, *, edition_id: int) -> str | None:
    """The edition's hold now, read afresh (the sender asks between batches)."""
    return session.connection().execute(select(EDITION.c.held).where(EDITION.c.id == edition_id)).scalar()


def set_hold(session: Session, *, edition_id: int, held: str) -> bool:
    """The edition held `held` unless it is done or held already: True when set. One guarded UPDATE: a sender
    finishing the edition (or an editor) meanwhile wins."""
    where = [EDITION.c.id == edition_id, EDITION.c.status != EditionStatus.done, EDITION.c.held.is_(None)]
    return session.connection().execute(update(EDITION).where(*where).values(held=held)).rowcount == 1


def clear_hold(session: Session, *, edition_id: int, held: str) -> bool:
    """The hold `held` lifted (another hold, e.g. awaiting approval, is left alone): True when lifted."""
    where = [EDITION.c.id == edition_id, EDITION.c.held == held]
    return session.connection().execute(update(EDITION).where(*where).values(held=None)).rowcount == 1


def reopen(session: Session, *, edition_id: int) -> None:
    """A done edition that has rows to send again is `sending` again (the workers' tick looks after those)."""
    session.connection().execute(update(EDITION).where(EDITION.c.id == edition_id,
                                                       EDITION.c.status == EditionStatus.done)
                                 .values(status=EditionStatus.sending, finished_at=None))


def deferred_due_now(session: Session, *, edition_id: int, now: datetime) -> list[int]:
    """The edition's deferred deliveries due at `now` (their backoff cut short): the retry job sends them."""
    return _move(session, [DELIVERY.c.edition_id == edition_id, DELIVERY.c.status == DeliveryStatus.deferred],
                 values={"next_attempt_at": now, "updated_at": now})


# ── the overview's charts ─────────────────────────────────────────────────────────────────────────────────


def clicks_per_edition(session: Session, *, sizes: dict[str, int]) -> dict[str, int]:
    """Counted clicks (one per delivery and article) per edition key, `sizes` giving each edition's number of
    deliveries (the overview has counted them). Each edition's clicks are those in its range of delivery ids
    (two index seeks). When the range holds exactly `sizes[key]` ids, every id in it is one of the edition's and
    the clicks are counted from their own index alone; otherwise (another edition's deliveries interleaved) each
    is joined to its delivery by id (`edition_id + 0` keeps SQLite from walking the edition's deliveries
    instead: a million, to find the few that were clicked)."""
    found = {}
    for edition_id, key in session.exec(select(Edition.id, Edition.key).where(Edition.key.in_(list(sizes)))):
        ids = select(Delivery.id).where(Delivery.edition_id == edition_id)
        first = session.exec(ids.order_by(Delivery.id).limit(1)).first()
        last = session.exec(ids.order_by(Delivery.id.desc()).limit(1)).first()
        if first is None:
            continue
        query = select(func.count()).select_from(CountedClick).where(CountedClick.delivery_id.between(first, last))
        if last - first + 1 != sizes[key]:
            query = query.join(Delivery, Delivery.id == CountedClick.delivery_id).where(
                (Delivery.edition_id + 0) == edition_id)
        if n := session.exec(query).one():
            found[key] = n
    return found


def leavers_per_edition(session: Session, *, keys: Sequence[str], since: datetime
                        ) -> tuple[dict[str, int], dict[str, int]]:
    """({edition key: unsubscribed}, {edition key: complaints}): readers whose subscription to the edition's
    newsletter is unsubscribed now (or who are `complained` now), changed at or after `since` (the window's
    start), for whom it was the last edition of that newsletter that went out to them (`sent_at` set: sent, or
    bounced later) before the change. Read from the leavers (few) to their deliveries by the subscriber index."""
    letters = sorted({key.split(":", 1)[0] for key in keys})  # the (newsletter, status, updated_at) index serves it
    left = session.exec(select(Subscription.subscriber_id, Subscription.newsletter, Subscription.updated_at).where(
        Subscription.newsletter.in_(letters), Subscription.status == SubscriptionStatus.unsubscribed,
        Subscription.updated_at >= since)).all()
    complained = session.exec(select(Subscriber.id, Subscriber.updated_at).where(
        Subscriber.status == SubscriberStatus.complained, Subscriber.updated_at >= since)).all()
    sent = _went_out(session, {sid for sid, *_ in left} | {sid for sid, _ in complained})
    wanted = set(keys)

    def count(changes) -> dict[str, int]:
        found: dict[str, int] = {}
        for sid, letter, changed in changes:
            last: dict[str, tuple] = {}  # newsletter → (sent_at, key) of the latest before the change
            for newsletter, key, at in sent.get(sid, ()):
                if (letter is None or newsletter == letter) and _utc(at) <= _utc(changed):
                    last[newsletter] = max(last.get(newsletter, (at, key)), (at, key))
            for _, key in last.values():
                if key in wanted:
                    found[key] = found.get(key, 0) + 1
        return found

    return count(left), count((sid, None, changed) for sid, changed in complained)


def _went_out(session: Session, subscriber_ids: set[int]) -> dict[int, list[tuple[str, str, datetime]]]:
    """{subscriber id: [(newsletter, edition key, sent_at)]} of their deliveries that went out."""
    found: dict[int, list] = {}
    for chunk in _chunks(sorted(subscriber_ids), 500):
        query = (select(Delivery.subscriber_id, Edition.newsletter, Edition.key, Delivery.sent_at)
                 .join(Edition, Edition.id == Delivery.edition_id)
                 .where(Delivery.subscriber_id.in_(chunk), Delivery.sent_at.is_not(None)))
        for sid, newsletter, key, at in session.exec(query):
            found.setdefault(sid, []).append((newsletter, key, at))
    return found


def _alive_now(session: Session, newsletter: str, *, largest: bool) -> int:
    """The newsletter's subscriptions not unsubscribed. Counted directly, SQLite steps through each of its
    entries of the (newsletter, status) index: a million for a big list. For the newsletter expected to be the
    largest, SQLite counts the whole table instead (`count(*)` with no condition walks the smallest index's
    pages without reading their entries: about ten times faster) less the other newsletters' and this one's
    unsubscribed subscriptions, all index ranges; exact whichever newsletter is largest, fast when it is this one."""
    sub, unsubscribed = Subscription, SubscriptionStatus.unsubscribed
    count = select(func.count()).select_from(Subscription)
    if not largest or session.get_bind().dialect.name != "sqlite":  # PostgreSQL's count(*) reads every row
        return session.exec(count.where(sub.newsletter == newsletter, sub.status != unsubscribed)).one()
    others = sum(session.exec(count.where(w)).one() for w in (sub.newsletter < newsletter, sub.newsletter > newsletter))
    gone = session.exec(count.where(sub.newsletter == newsletter, sub.status == unsubscribed)).one()
    return session.exec(count).one() - others - gone


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def subscriptions_since(session: Session, *, newsletter: str, before: datetime, largest: bool = False
                        ) -> tuple[int, list[tuple]]:
    """(subscriptions made before `before` that are not unsubscribed or unsubscribed after it, [(created_at,
    status, updated_at)] of those made since or unsubscribed since): what the list size over time is built of.
    From the subscription indexes of revision 0009: the count is the live ones now (index only), less those
    made since, plus those made before and unsubscribed since (both few). `largest`: the caller expects this
    newsletter to hold most of the subscriptions (see `_alive_now`)."""
    sub = Subscription
    made = select(sub.created_at, sub.status, sub.updated_at).where(sub.newsletter == newsletter,
                                                                    sub.created_at >= before)
    left = select(sub.created_at, sub.status, sub.updated_at).where(  # made before: tested below, so that the
        sub.newsletter == newsletter, sub.status == SubscriptionStatus.unsubscribed,  # status index serves it
        sub.updated_at >= before)
    made_rows = [(c, str(s), u) for c, s, u in session.exec(made)]
    left_rows = [(c, str(s), u) for c, s, u in session.exec(left) if _utc(c) < before]
    alive_then = (_alive_now(session, newsletter, largest=largest) - sum(1 for _, s, _ in made_rows if s != "unsubscribed")
                  + len(left_rows))
    return alive_then, made_rows + left_rows
