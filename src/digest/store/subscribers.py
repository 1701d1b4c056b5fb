"""Subscribers (the `subscriber` table) and their suppression records (`suppression`): upserting them in bulk
(suppressed addresses left alone) and subscribing them, finding and listing them, their status, preferences and
consent, removing and erasing them (a suppression record by the address's hash stays), their token identity.
Who is due for an edition is `store.subscriptions`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import bindparam, delete, insert, update
from sqlmodel import Session, select

from digest.config.newsletters import DEFAULT_KEY
from digest.models import (
    SUBSCRIBER_RECORD_FIELDS, SUPPRESSED, Confirmation, CountedClick, Delivery, DeliveryItem, Subscriber,
    SubscriberRecord, SubscriberStatus, Subscription, Suppression, SuppressionReason, address_hash, new_token_key,
    subscriber_records,
)
from digest.store import webhooks
from digest.store.engine import _chunks


SUBSCRIBER = Subscriber.__table__  # bulk writes go through Core
SUBSCRIPTION = Subscription.__table__

SUBSCRIBER_FIELDS = ("name", "topics", "countries", "frequency", "weekday", "send_at", "timezone", "max_items",
                     "format")

UPSERT_COUNTS = ("new", "updated", "suppressed", "resubscribed")


def upsert_subscribers(session: Session, *, subscribers: Sequence[Subscriber], now: datetime,
                       fields: Iterable[str] = SUBSCRIBER_FIELDS, resubscribe: str | None = None,
                       newsletters: Sequence[str] | dict[str, Sequence[str]] = (DEFAULT_KEY,),
                       source: str = "import") -> dict[str, int]:
    """Insert by (normalised) email, or update the given fields of an existing subscriber (status is left alone),
    and subscribe each to `newsletters` (the same keys for all, or email → keys): a newsletter the reader left
    stays left unless `resubscribe`.

    An address that is unsubscribed, bounced, complained, removed or erased (a suppression record, no row) is
    left as it is and counted `suppressed`, unless `resubscribe` gives the operator's consent source: then it
    becomes active with that consent. Written with executemany statements (Core): 100,000 rows take seconds.
    """
    table, fields = Subscriber.__table__, tuple(fields)
    existing = _statuses(session, [s.email for s in subscribers])
    erased = _suppressed_hashes(session, [s.email for s in subscribers if s.email not in existing])
    new, changed, revived, seen, joining = [], [], [], set(), []
    counts = dict.fromkeys(UPSERT_COUNTS, 0)
    for sub in subscribers:
        values = {f"b_{f}": getattr(sub, f) for f in fields}
        known = sub.email in existing or sub.email in seen
        held = existing.get(sub.email) in SUPPRESSED or (not known and address_hash(sub.email) in erased)
        if held and resubscribe is None:
            counts["suppressed"] += 1
            continue
        joining.append(sub.email)
        if held:
            counts["resubscribed"] += 1
            revived.append(sub.email)
            if sub.email in existing:
                changed.append({"b_email": sub.email, "b_updated_at": now, **values})
            else:
                seen.add(sub.email)
                new.append(_new_row(sub, now))
        elif known:
            counts["updated"] += 1
            changed.append({"b_email": sub.email, "b_updated_at": now, **values})
        else:
            counts["new"] += 1
            seen.add(sub.email)
            new.append(_new_row(sub, now))
    conn = session.connection()
    if new:
        conn.execute(insert(table), new)
    if changed:
        conn.execute(update(table).where(table.c.email == bindparam("b_email"))
                     .values(updated_at=bindparam("b_updated_at"), **{f: bindparam(f"b_{f}") for f in fields}),
                     changed)
    if revived:
        _resubscribe(session, emails=revived, source=resubscribe, now=now)
    _subscribe(session, joining, set(revived), newsletters, now, source)
    return counts


def _subscribe(session: Session, emails: Sequence[str], revived: set[str],
               newsletters: Sequence[str] | dict[str, Sequence[str]], now: datetime, source: str) -> None:
    """Each reader (none held by a suppression) subscribed to their newsletters."""
    from digest.store.subscriptions import subscribe

    ids = _ids(session, emails)
    groups: dict[tuple[tuple[str, ...], bool], list[int]] = {}
    for email in emails:
        keys = newsletters.get(email, ()) if isinstance(newsletters, dict) else newsletters
        if email in ids and keys:
            groups.setdefault((tuple(keys), email in revived), []).append(ids[email])
    for (keys, again), sids in groups.items():
        subscribe(session, subscriber_ids=sids, newsletters=keys, now=now, source=source, resubscribe=again)


def _ids(session: Session, emails: Sequence[str]) -> dict[str, int]:
    found = {}
    for chunk in _chunks(list(dict.fromkeys(emails)), 500):
        found.update(session.connection().execute(
            select(SUBSCRIBER.c.email, SUBSCRIBER.c.id).where(SUBSCRIBER.c.email.in_(chunk))).all())
    return found


def _new_row(sub, now: datetime) -> dict:
    return {**{c: getattr(sub, c) for c in ("email", "status") + SUBSCRIBER_FIELDS},
            "token_key": new_token_key(), "created_at": now, "updated_at": now}


def _statuses(session: Session, emails: Sequence[str]) -> dict[str, str]:
    table, found = Subscriber.__table__, {}
    for chunk in _chunks(list(emails), 500):
        found.update(session.connection().execute(
            select(table.c.email, table.c.status).where(table.c.email.in_(chunk))).all())
    return {email: SubscriberStatus(status) for email, status in found.items()}


def _suppressed_hashes(session: Session, emails: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks([address_hash(e) for e in emails], 500):
        found.update(session.exec(select(Suppression.email_hash).where(Suppression.email_hash.in_(chunk))))
    return found


def _resubscribe(session: Session, *, emails: Sequence[str], source: str, now: datetime) -> None:
    """The operator's explicit consent: active again, the consent recorded, the suppression record gone."""
    for chunk in _chunks(list(emails), 500):
        session.exec(update(Subscriber).where(Subscriber.email.in_(chunk)).values(
            status=SubscriberStatus.active, consent_at=now, consent_source=source[:200], updated_at=now))
        session.exec(delete(Suppression).where(Suppression.email_hash.in_([address_hash(e) for e in chunk])))


# ── one subscriber, or many by id ───────────────────────────────────────────────────────────────────


def list_subscribers(session: Session) -> list[Subscriber]:
    return list(session.exec(select(Subscriber).order_by(Subscriber.id)))


def find_subscriber(session: Session, *, email: str) -> Subscriber | None:
    """By address, whatever its case (stored addresses are normalised: `ingest.subscribers.normalize_email`)."""
    return session.exec(select(Subscriber).where(Subscriber.email == email.strip().lower())).first()


def subscriber_by_id(session: Session, *, subscriber_id: int) -> Subscriber | None:
    return session.get(Subscriber, subscriber_id)


RECORD_COLUMNS = tuple(Subscriber.__table__.c[f] for f in SUBSCRIBER_RECORD_FIELDS)  # what a record is made of


def subscribers_by_id(session: Session, *, ids: Iterable[int]) -> dict[int, SubscriberRecord]:
    found: dict[int, SubscriberRecord] = {}
    for chunk in _chunks(list(set(ids)), 500):
        rows = session.connection().execute(select(*RECORD_COLUMNS).where(Subscriber.__table__.c.id.in_(chunk)))
        found.update({record.id: record for record in subscriber_records(rows)})
    return found


def subscriber_token_key(session: Session, *, subscriber_id: int) -> str | None:
    """The identity a subscriber's tokens are bound to ("" for a row made before they existed); None when no
    subscriber has that id or they were removed (their links and bounce tokens then act on nobody)."""
    row = session.exec(select(Subscriber.status, Subscriber.token_key).where(Subscriber.id == subscriber_id)).first()
    return None if row is None or row[0] == SubscriberStatus.removed else (row[1] or "")


def is_suppressed(session: Session, *, email: str) -> str | None:
    """Why an address may not be mailed without a new consent (its status, or its suppression record), or None."""
    sub = find_subscriber(session, email=email)
    if sub is not None:
        return str(sub.status) if sub.status in SUPPRESSED else None
    record = session.get(Suppression, address_hash(email))
    return None if record is None else str(record.reason)


# ── status, preferences and consent ─────────────────────────────────────────────────────────────────


def set_subscriber_status(session: Session, *, subscriber_id: int, status: SubscriberStatus, now: datetime,
                          only_from: Sequence[SubscriberStatus]) -> bool:
    """Move a subscriber to `status` if their status is one of `only_from`; True when it changed."""
    result = session.exec(update(Subscriber).where(Subscriber.id == subscriber_id, Subscriber.status.in_(only_from))
                          .values(status=status, updated_at=now))
    if result.rowcount and status == SubscriberStatus.complained:  # every complaint is suppressed through here
        webhooks.emit_subscriber(session, type="subscriber.complained", subscriber_id=subscriber_id, now=now)
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


def reactivate_bounced(session: Session, *, suppressed: Sequence[tuple[int, str, datetime]], now: datetime
                       ) -> set[tuple[int, str]]:
    """bounced → active for each (subscriber id, email, time) whose subscriber is still `bounced` and was last
    changed at that time (by the bounce being requeued); the (id, email) of those that changed."""
    reactivated = set()
    for sid, email, at in suppressed:
        result = session.connection().execute(
            update(SUBSCRIBER).where(SUBSCRIBER.c.id == sid, SUBSCRIBER.c.status == SubscriberStatus.bounced,
                                     SUBSCRIBER.c.updated_at == at)
            .values(status=SubscriberStatus.active, updated_at=now))
        if result.rowcount:
            reactivated.add((sid, email))
    return reactivated


def delete_subscriber(session: Session, *, email: str, now: datetime) -> str | None:
    """`subscribers remove`: the subscriber becomes `removed`, is never mailed again, and keeps their delivery
    history (so a later re-import with consent never re-sends an edition they had); a suppression record is
    kept by the address's hash. Returns the status they had, None when there is no such subscriber."""
    sub = find_subscriber(session, email=email)
    if sub is None:
        return None
    before = str(sub.status)
    session.exec(update(Subscriber).where(Subscriber.id == sub.id).values(status=SubscriberStatus.removed,
                                                                          updated_at=now))
    _suppress(session, sub.email, SuppressionReason.removed, now)
    return before


def erase_subscriber(session: Session, *, email: str, now: datetime) -> int:
    """`subscribers erase` (GDPR): delete the subscriber, their deliveries and items; keep only the hash of the
    address as a suppression record (their confirmation emails' rows, which name the address, go too).
    Returns the number of deliveries deleted (-1: there was no subscriber)."""
    sub = find_subscriber(session, email=email)
    deleted = -1
    if sub is not None:
        delivery_ids = list(session.exec(select(Delivery.id).where(Delivery.subscriber_id == sub.id)))
        for chunk in _chunks(delivery_ids, 500):
            session.exec(delete(DeliveryItem).where(DeliveryItem.delivery_id.in_(chunk)))
            session.exec(delete(CountedClick).where(CountedClick.delivery_id.in_(chunk)))
            session.exec(delete(Delivery).where(Delivery.id.in_(chunk)))
        session.exec(delete(Confirmation).where(Confirmation.subscriber_id == sub.id))
        session.exec(delete(Subscription).where(Subscription.subscriber_id == sub.id))
        session.exec(delete(Subscriber).where(Subscriber.id == sub.id))
        webhooks.forget_subscriber(session, subscriber_id=sub.id)  # the outbox's payloads name the address
        deleted = len(delivery_ids)
    session.exec(delete(Confirmation).where(Confirmation.email == email.lower()))
    _suppress(session, email, SuppressionReason.erased, now)
    return deleted


def _suppress(session: Session, email: str, reason: SuppressionReason, now: datetime) -> None:
    record = session.get(Suppression, address_hash(email))
    if record is None:
        session.add(Suppression(email_hash=address_hash(email), reason=reason, created_at=now, updated_at=now))
    else:
        record.reason, record.updated_at = reason, now
    session.flush()

