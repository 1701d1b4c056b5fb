"""Deliveries (the `delivery` and `deliveryitem` tables) on the send path: planning an edition's deliveries,
claiming them for sending, recording outcomes and bounces, recovering interrupted sends, and the lookups of one
delivery (by id or Message-ID, its items and links, its recipient and token identity). An edition's deliveries
as a whole (counts, problems, expiry, the operator's requeues): `store.delivery_status`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, func, or_, update
from sqlmodel import Session, select

from digest.models import CARRIED, Delivery, DeliveryItem, DeliveryStatus, Edition, Subscriber, SubscriberStatus
from digest.store import delivery_rows
from digest.store.articles import articles_by_id
from digest.store.engine import _chunks

DELIVERY = Delivery.__table__  # bulk writes go through Core: the ORM's per-row bookkeeping costs milliseconds

SENDABLE = (DeliveryStatus.queued, DeliveryStatus.deferred)

REQUEUEABLE = (DeliveryStatus.failed, DeliveryStatus.bounced, DeliveryStatus.unknown)  # an operator's decision

IN_FLIGHT = (DeliveryStatus.sending, DeliveryStatus.unknown)  # a send's outcome may land on these

add_deliveries = delivery_rows.add_deliveries  # planning's bulk insert (its own module), called from here


# ── planning and claiming ───────────────────────────────────────────────────────────────────────────


def planned_subscriber_ids(session: Session, *, edition_id: int, subscriber_ids: Sequence[int]) -> set[int]:
    query = select(Delivery.subscriber_id).where(Delivery.edition_id == edition_id,
                                                 Delivery.subscriber_id.in_(list(subscriber_ids)))
    return set(session.exec(query).all())


def carried_articles(session: Session, *, subscriber_ids: Sequence[int], exclude_edition: int | None = None,
                     newsletter: str | None = None) -> dict[int, tuple[set[int], set[str]]]:
    """Per subscriber: the article ids and story keys sent (or on their way) to them, by `newsletter` if given.

    The status is checked here, not in the query: given `status IN (...)`, SQLite walks ix_delivery_status, every
    carried delivery of every edition (the one being planned included), for each page of readers, which made a
    1,000,000-reader plan twice as slow per reader as one of 100,000; by subscriber it reads only theirs."""
    query = (select(Delivery.subscriber_id, Delivery.status, DeliveryItem.article_id, DeliveryItem.story_key)
             .join(DeliveryItem, DeliveryItem.delivery_id == Delivery.id)
             .where(Delivery.subscriber_id.in_(list(subscriber_ids))))
    if exclude_edition is not None:
        query = query.where(Delivery.edition_id != exclude_edition)
    if newsletter is not None:
        query = query.join(Edition, Edition.id == Delivery.edition_id).where(Edition.newsletter == newsletter)
    found: dict[int, tuple[set[int], set[str]]] = defaultdict(lambda: (set(), set()))
    for sub_id, status, article_id, story_key in session.exec(query):
        if status not in CARRIED:
            continue
        found[sub_id][0].add(article_id)
        found[sub_id][1].add(story_key)
    return found


def _sendable(now: datetime, retry_deferred: bool, after_id: int = 0):
    """Queued deliveries, and deferred ones whose retry time has come; with `retry_deferred`, also every
    deferred one after `after_id` (a run walks up the ids, so what it defers again is not retried again)."""
    due = Delivery.next_attempt_at <= now
    if retry_deferred:
        due = or_(due, Delivery.id > after_id)
    return or_(Delivery.status == DeliveryStatus.queued, (Delivery.status == DeliveryStatus.deferred) & due)


SENDABLE_COLUMNS = tuple(DELIVERY.c[c] for c in ("id", "subscriber_id", "status", "variant_key", "message_id",
                                                 "claimed_by"))


def sendable_deliveries(session: Session, *, edition_id: int, size: int, now: datetime,
                        retry_deferred: bool = False, subscriber_ids: Sequence[int] | None = None,
                        id_range: tuple[int, int] | None = None, after_id: int = 0) -> list:
    """Up to `size` deliveries a run may send now, in id order, as rows of SENDABLE_COLUMNS (plain rows: ORM
    objects cost more than the rest of reading a batch); `id_range` = a shard's (first, last) subscriber ids;
    `retry_deferred`: deferred ones not yet due too, those after `after_id` (the run's last batch)."""
    query = select(*SENDABLE_COLUMNS).where(Delivery.edition_id == edition_id, _sendable(now, retry_deferred, after_id))
    if subscriber_ids is not None:
        query = query.where(Delivery.subscriber_id.in_(list(subscriber_ids)))
    if id_range is not None:
        query = query.where(Delivery.subscriber_id.between(*id_range))
    return list(session.connection().execute(query.order_by(Delivery.id).limit(size)))


def shard_ranges(session: Session, *, edition_id: int, size: int, now: datetime,
                 covered: Sequence[tuple[int, int]] = ()) -> list[tuple[int, int]]:
    """The edition's sendable deliveries cut into (first, last) subscriber-id ranges of about `size` each; inside
    `covered` (live jobs' ranges) only the due deferred ones (a running job walks up the ids once)."""
    which = _sendable(now, False)
    if covered:
        inside = or_(*(Delivery.subscriber_id.between(first, last) for first, last in covered))
        which = which & (~inside | (Delivery.status == DeliveryStatus.deferred))
    numbered = (select(Delivery.subscriber_id.label("sid"),
                       func.row_number().over(order_by=Delivery.subscriber_id).label("n"))
                .where(Delivery.edition_id == edition_id, which).subquery())
    starts = list(session.exec(select(numbered.c.sid).where((numbered.c.n - 1) % size == 0).order_by(numbered.c.n)))
    if not starts:
        return []
    last = session.exec(select(func.max(numbered.c.sid))).one()
    return [(first, nxt - 1) for first, nxt in zip(starts, starts[1:])] + [(starts[-1], last)]


def claim(session: Session, *, message_ids: dict[int, str], now: datetime,
          claimed_by: str | None = None) -> dict[int, int]:
    """Move each still-sendable delivery to `sending` with its Message-ID: {claimed id: attempts}. `claimed_by`
    names the worker job (None: the embedded sender), so that only its own rows are recovered."""
    if not message_ids:
        return {}
    conn = session.connection()
    claimed: dict[int, int] = {}
    for chunk in _chunks(list(message_ids), 500):
        result = conn.execute(
            update(DELIVERY)
            .where(DELIVERY.c.id.in_(chunk), DELIVERY.c.status.in_(list(SENDABLE)))
            .values(status=DeliveryStatus.sending, attempts=DELIVERY.c.attempts + 1, updated_at=now,
                    claimed_by=claimed_by)
            .returning(DELIVERY.c.id, DELIVERY.c.attempts))
        claimed.update({row.id: row.attempts for row in result})
    if claimed:  # plain strings and ints: straight to the driver, no per-row parameter processing
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        conn.exec_driver_sql(f"UPDATE {DELIVERY.name} SET message_id = {mark} WHERE id = {mark}",
                             [(message_ids[i], i) for i in claimed])
    return claimed


def release(session: Session, *, rows: Sequence[tuple[int, DeliveryStatus, str | None, str | None]]) -> int:
    """Claimed rows whose message never left (no connection, TLS or AUTH failed, or the run stopped before
    trying them) go back as they were: (id, status, message_id, claimed_by) before the claim, the attempt
    not counted. Only rows still `sending` change. Returns the rows released."""
    if not rows:
        return 0
    params = [{"b_id": i, "b_status": status, "b_message_id": mid, "b_claimed_by": owner}
              for i, status, mid, owner in rows]
    result = session.connection().execute(
        update(DELIVERY).where(DELIVERY.c.id == bindparam("b_id"), DELIVERY.c.status == DeliveryStatus.sending)
        .values(status=bindparam("b_status"), message_id=bindparam("b_message_id"),
                claimed_by=bindparam("b_claimed_by"), attempts=DELIVERY.c.attempts - 1), params)
    return result.rowcount


# ── outcomes ────────────────────────────────────────────────────────────────────────────────────────


OUTCOME_FIELDS = ("status", "smtp_code", "smtp_reply", "error", "next_attempt_at", "sent_at")


def record_outcomes(session: Session, *, outcomes: Sequence[dict], now: datetime,
                    expect: Sequence[DeliveryStatus] = IN_FLIGHT) -> int:
    """Write many outcomes in one statement: dicts with `id` and any of OUTCOME_FIELDS (others become NULL).

    Only rows still in an `expect`ed status change: a send's outcome lands on the row it claimed (or on the
    `unknown` a recovery made of it, which the outcome corrects), never on a row another process has since
    moved on. Returns the rows written.
    """
    if not outcomes:
        return 0
    names = [f"b_{k}" for k in OUTCOME_FIELDS]
    params = [{"b_id": o["id"], "b_updated_at": now, **dict(zip(names, map(o.get, OUTCOME_FIELDS)))}
              for o in outcomes]
    result = session.connection().execute(
        update(DELIVERY).where(DELIVERY.c.id == bindparam("b_id"), or_(*(DELIVERY.c.status == s for s in expect)))
        .values(updated_at=bindparam("b_updated_at"), **{k: bindparam(f"b_{k}") for k in OUTCOME_FIELDS}), params)
    return result.rowcount


def record_outcome(session: Session, *, delivery_id: int, status: DeliveryStatus, now: datetime,
                   smtp_code: int | None = None, smtp_reply: str | None = None, error: str | None = None,
                   next_attempt_at: datetime | None = None, expect: Sequence[DeliveryStatus] = IN_FLIGHT) -> bool:
    return record_outcomes(session, outcomes=[{
        "id": delivery_id, "status": status, "smtp_code": smtp_code, "smtp_reply": smtp_reply, "error": error,
        "next_attempt_at": next_attempt_at, "sent_at": now if status == DeliveryStatus.sent else None}], now=now,
        expect=expect) == 1


def _move(session: Session, where, *, values: dict) -> list[int]:
    """One guarded UPDATE … RETURNING id: the status condition is part of the statement, so a row another
    process changed between a read and this write is left alone (no read-then-write race)."""
    result = session.connection().execute(update(DELIVERY).where(*where).values(**values).returning(DELIVERY.c.id))
    return sorted(row.id for row in result)


def recover_interrupted(session: Session, *, now: datetime, claimed_by: str | None = None) -> list[int]:
    """Rows left in `sending` by a dead sender: the message may have gone out, so they become `unknown`.

    `claimed_by` None: the embedded sender's rows; call it only while holding the sender lock (then no live
    process is sending them). "job:N": the rows of a worker job that procrastinate found stalled.
    Workers' rows are never touched by the embedded sender's recovery, nor one job's by another's.
    """
    owner = DELIVERY.c.claimed_by.is_(None) if claimed_by is None else DELIVERY.c.claimed_by == claimed_by
    return _move(session, [DELIVERY.c.status == DeliveryStatus.sending, owner], values={
        "status": DeliveryStatus.unknown, "updated_at": now,
        "error": "interrupted while sending: the message may or may not have been delivered"})


def record_bounce(session: Session, *, delivery_id: int, smtp_code: int | None, smtp_reply: str, error: str,
                  now: datetime) -> bool:
    """sent | unknown → bounced, from a bounce report; False when the delivery was not in one of those."""
    result = session.exec(update(Delivery).where(Delivery.id == delivery_id, Delivery.status.in_(
        [DeliveryStatus.sent, DeliveryStatus.unknown])).values(
        status=DeliveryStatus.bounced, smtp_code=smtp_code, smtp_reply=smtp_reply[:500], error=error[:500],
        updated_at=now))
    return bool(result.rowcount)


# ── one delivery ────────────────────────────────────────────────────────────────────────────────────


def delivery_by_id(session: Session, *, delivery_id: int) -> Delivery | None:
    return session.get(Delivery, delivery_id)


def delivery_by_message_id(session: Session, *, message_id: str) -> Delivery | None:
    return session.exec(select(Delivery).where(Delivery.message_id == message_id)).first()


def subscriber_delivery(session: Session, *, edition_key: str, subscriber_id: int) -> tuple[Edition, Delivery] | None:
    query = (select(Edition, Delivery).join(Delivery, Delivery.edition_id == Edition.id)
             .where(Edition.key == edition_key, Delivery.subscriber_id == subscriber_id))
    return session.exec(query).first()


def delivery_items(session: Session, *, delivery_ids: Sequence[int]) -> dict[int, list[DeliveryItem]]:
    found: dict[int, list[DeliveryItem]] = defaultdict(list)
    for chunk in _chunks(list(delivery_ids), 500):
        query = select(DeliveryItem).where(DeliveryItem.delivery_id.in_(chunk)).order_by(DeliveryItem.position)
        for item in session.exec(query):
            found[item.delivery_id].append(item)
    return found


def delivery_links(session: Session, *, delivery_id: int, subscriber_id: int) -> dict[int, str]:
    """article id → URL of every article a delivery to this subscriber carried (leads and "also covered by")."""
    owner = session.exec(select(Delivery.subscriber_id).where(Delivery.id == delivery_id)).first()
    if owner != subscriber_id:
        return {}
    items = delivery_items(session, delivery_ids=[delivery_id]).get(delivery_id, [])
    ids = {i.article_id for i in items} | {a for i in items for a in i.why.get("also", [])}
    return {a.id: a.url for a in articles_by_id(session, ids=ids).values()}


def delivery_recipient(session: Session, *, delivery_id: int) -> str | None:
    """The address a delivery was sent to (its subscriber's)."""
    return session.exec(select(Subscriber.email).join(Delivery, Delivery.subscriber_id == Subscriber.id)
                        .where(Delivery.id == delivery_id)).first()


def delivery_token_key(session: Session, *, delivery_id: int) -> str | None:
    """The identity of the subscriber a delivery was made for (its VERP token is bound to it), as above."""
    row = session.exec(select(Subscriber.status, Subscriber.token_key).join(
        Delivery, Delivery.subscriber_id == Subscriber.id).where(Delivery.id == delivery_id)).first()
    return None if row is None or row[0] == SubscriberStatus.removed else (row[1] or "")
