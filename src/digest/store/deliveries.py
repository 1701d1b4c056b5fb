"""Deliveries: planning an edition's deliveries, claiming them for sending, recording outcomes, recovering
interrupted sends, expiry, operator retries and the status queries. The editions themselves: `store.editions`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import bindparam, func, insert, literal, or_, update
from sqlmodel import Session, select

from digest.models import (
    CARRIED, Delivery, DeliveryItem, DeliveryStatus, Subscriber, SubscriberRecord,
    SubscriberStatus, subscriber_record,
)
from digest.store.engine import _chunks


DELIVERY = Delivery.__table__  # bulk writes go through Core: the ORM's per-row bookkeeping costs milliseconds
SUBSCRIBER = Subscriber.__table__
SENDABLE = (DeliveryStatus.queued, DeliveryStatus.deferred)
REQUEUEABLE = (DeliveryStatus.failed, DeliveryStatus.bounced, DeliveryStatus.unknown)  # an operator's decision
IN_FLIGHT = (DeliveryStatus.sending, DeliveryStatus.unknown)  # a send's outcome may land on these


# ── editions and deliveries ─────────────────────────────────────────────────────────────────────────

def planned_subscriber_ids(session: Session, *, edition_id: int, subscriber_ids: Sequence[int]) -> set[int]:
    query = select(Delivery.subscriber_id).where(Delivery.edition_id == edition_id,
                                                 Delivery.subscriber_id.in_(list(subscriber_ids)))
    return set(session.exec(query).all())


def carried_articles(session: Session, *, subscriber_ids: Sequence[int], exclude_edition: int | None = None
                     ) -> dict[int, tuple[set[int], set[str]]]:
    """For each subscriber: the article ids and story keys already sent (or on their way) to them."""
    query = (select(Delivery.subscriber_id, DeliveryItem.article_id, DeliveryItem.story_key)
             .join(DeliveryItem, DeliveryItem.delivery_id == Delivery.id)
             .where(Delivery.subscriber_id.in_(list(subscriber_ids)), Delivery.status.in_(CARRIED)))
    if exclude_edition is not None:
        query = query.where(Delivery.edition_id != exclude_edition)
    found: dict[int, tuple[set[int], set[str]]] = defaultdict(lambda: (set(), set()))
    for sub_id, article_id, story_key in session.exec(query):
        found[sub_id][0].add(article_id)
        found[sub_id][1].add(story_key)
    return found


def add_deliveries(session: Session, *, edition_id: int, planned: Sequence[tuple], now: datetime) -> int:
    """Insert many deliveries and their items in two statements.

    `planned` holds (subscriber_id, status, variant_key, error, items), items as dicts of DeliveryItem fields.
    """
    if not planned:
        return 0
    conn = session.connection()
    rows = [{"edition_id": edition_id, "subscriber_id": sub_id, "status": status, "attempts": 0,
             "variant_key": vkey, "error": error, "created_at": now, "updated_at": now}
            for sub_id, status, vkey, error, _ in planned]
    ids = [r.id for r in conn.execute(insert(DELIVERY).returning(DELIVERY.c.id, sort_by_parameter_order=True), rows)]
    items = [{"delivery_id": delivery_id, **item} for delivery_id, (*_, plan_items) in zip(ids, planned)
             for item in plan_items]
    if items:
        conn.execute(insert(DeliveryItem.__table__), items)
    return len(ids)


def _sendable(now: datetime, retry_deferred: bool, after_id: int = 0):
    """Queued deliveries, and deferred ones whose retry time has come; with `retry_deferred`, also every
    deferred one after `after_id` (a run walks up the ids, so what it defers again is not retried again)."""
    due = Delivery.next_attempt_at <= now
    if retry_deferred:
        due = or_(due, Delivery.id > after_id)
    return or_(Delivery.status == DeliveryStatus.queued, (Delivery.status == DeliveryStatus.deferred) & due)


def sendable_deliveries(session: Session, *, edition_id: int, size: int, now: datetime,
                        retry_deferred: bool = False, subscriber_ids: Sequence[int] | None = None,
                        id_range: tuple[int, int] | None = None, after_id: int = 0) -> list[Delivery]:
    """Up to `size` deliveries a run may send now, in id order; `id_range` = a shard's (first, last) subscriber
    ids; `retry_deferred`: deferred ones not yet due too, those after `after_id` (the run's last batch)."""
    query = select(Delivery).where(Delivery.edition_id == edition_id, _sendable(now, retry_deferred, after_id))
    if subscriber_ids is not None:
        query = query.where(Delivery.subscriber_id.in_(list(subscriber_ids)))
    if id_range is not None:
        query = query.where(Delivery.subscriber_id.between(*id_range))
    return list(session.exec(query.order_by(Delivery.id).limit(size)))


def shard_ranges(session: Session, *, edition_id: int, size: int, now: datetime, retries_only: bool = False
                 ) -> list[tuple[int, int]]:
    """The edition's sendable deliveries (`retries_only`: deferred ones now due) cut into (first, last)
    subscriber-id ranges of about `size` each."""
    which = ((Delivery.status == DeliveryStatus.deferred) & (Delivery.next_attempt_at <= now)) if retries_only \
        else _sendable(now, False)
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
    """Move each still-sendable delivery to `sending` with its Message-ID: {claimed id: attempts}.

    `claimed_by` names the worker job (None: the embedded sender), so that only its own rows are recovered.
    """
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
    if claimed:
        conn.execute(update(DELIVERY).where(DELIVERY.c.id == bindparam("b_id"))
                     .values(message_id=bindparam("b_message_id")),
                     [{"b_id": i, "b_message_id": message_ids[i]} for i in claimed])
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


def pending_deliveries(session: Session, *, edition_id: int, include_deferred: bool) -> list[Delivery]:
    """What a run would send now, without claiming anything (for dry runs)."""
    statuses = [DeliveryStatus.queued] + ([DeliveryStatus.deferred] if include_deferred else [])
    query = select(Delivery).where(Delivery.edition_id == edition_id, Delivery.status.in_(statuses))
    return list(session.exec(query.order_by(Delivery.id)))


def delivery_items(session: Session, *, delivery_ids: Sequence[int]) -> dict[int, list[DeliveryItem]]:
    found: dict[int, list[DeliveryItem]] = defaultdict(list)
    for chunk in _chunks(list(delivery_ids), 500):
        query = select(DeliveryItem).where(DeliveryItem.delivery_id.in_(chunk)).order_by(DeliveryItem.position)
        for item in session.exec(query):
            found[item.delivery_id].append(item)
    return found


def subscribers_by_id(session: Session, *, ids: Iterable[int]) -> dict[int, SubscriberRecord]:
    found: dict[int, SubscriberRecord] = {}
    for chunk in _chunks(list(set(ids)), 500):
        rows = session.connection().execute(select(Subscriber.__table__).where(Subscriber.__table__.c.id.in_(chunk)))
        found.update({row.id: subscriber_record(row) for row in rows})
    return found


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
    params = [{"b_id": o["id"], "b_updated_at": now, **{f"b_{k}": o.get(k) for k in OUTCOME_FIELDS}}
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


def sending_owners(session: Session) -> list[str]:
    """The worker jobs ("job:N") that have deliveries in `sending` now."""
    query = select(Delivery.claimed_by).where(Delivery.status == DeliveryStatus.sending,
                                              Delivery.claimed_by.is_not(None)).distinct()
    return list(session.exec(query))


def edition_counts(session: Session, *, edition_id: int) -> dict[str, int]:
    query = select(Delivery.status, func.count()).where(Delivery.edition_id == edition_id).group_by(Delivery.status)
    return {str(status): n for status, n in session.exec(query)}


def edition_problems(session: Session, *, edition_id: int, limit: int = 50) -> list[tuple[str, str, int | None, str]]:
    """(email, status, smtp code, error) of deliveries that did not end sent or skipped."""
    query = (select(Subscriber.email, Delivery.status, Delivery.smtp_code, Delivery.error)
             .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
             .where(Delivery.edition_id == edition_id,
                    Delivery.status.not_in([DeliveryStatus.sent, DeliveryStatus.skipped]))
             .order_by(Delivery.id).limit(limit))
    return [(e, str(s), c, err or "") for e, s, c, err in session.exec(query)]


# ── reliability: deadlines, operator retries, slots, status, the sender lock ────────────────────────

def expire_remaining(session: Session, *, edition_id: int, now: datetime) -> list[int]:
    """Queued and deferred deliveries of an edition whose deadline passed become `expired`."""
    return _move(session, [DELIVERY.c.edition_id == edition_id, DELIVERY.c.status.in_(list(SENDABLE))], values={
        "status": DeliveryStatus.expired, "updated_at": now, "next_attempt_at": None,
        "error": "the edition's deadline passed before it could be sent"})


def requeue_unknown(session: Session, *, edition_id: int, now: datetime,
                    subscriber_ids: Sequence[int] | None = None) -> list[int]:
    """`unknown` → `queued`: only ever on an operator's explicit request (`send --retry-unknown`)."""
    where = [DELIVERY.c.edition_id == edition_id, DELIVERY.c.status == DeliveryStatus.unknown]
    if subscriber_ids is not None:
        where.append(DELIVERY.c.subscriber_id.in_(list(subscriber_ids)))
    return _move(session, where, values={"status": DeliveryStatus.queued, "updated_at": now,
                                         "error": "requeued by the operator after an unknown outcome"})


def requeue_outcomes(session: Session, *, edition_id: int, statuses: Sequence[DeliveryStatus], now: datetime,
                     reason: str, delivery_ids: Sequence[int] | None = None, since: datetime | None = None,
                     until: datetime | None = None, dry_run: bool = False
                     ) -> tuple[dict[str, list[int]], list[tuple[int, str]]]:
    """failed | bounced | unknown → queued, for the rows of an edition last changed in [since, until) (or the
    given `delivery_ids`), and the readers those rows' bounces suppressed back to `active`.

    A reader is reactivated only where that row's bounce suppressed them: the subscriber is still `bounced`
    and was last changed in the same transaction as the row (same time), so a reader suppressed by another
    bounce, or changed since, stays as they are. Returns ({status: delivery ids}, [(subscriber id, email)]).
    """
    wanted = [DeliveryStatus(s) for s in statuses if DeliveryStatus(s) in REQUEUEABLE]
    where = [DELIVERY.c.edition_id == edition_id, DELIVERY.c.status.in_(wanted)]
    if delivery_ids is not None:
        where.append(DELIVERY.c.id.in_(list(delivery_ids)))
    if since is not None:
        where.append(DELIVERY.c.updated_at >= since)
    if until is not None:
        where.append(DELIVERY.c.updated_at < until)
    query = (select(DELIVERY.c.id, DELIVERY.c.status, DELIVERY.c.updated_at, SUBSCRIBER.c.id.label("sid"),
                    SUBSCRIBER.c.email, SUBSCRIBER.c.status.label("sub_status"),
                    SUBSCRIBER.c.updated_at.label("sub_updated_at"))
             .join(SUBSCRIBER, SUBSCRIBER.c.id == DELIVERY.c.subscriber_id).where(*where).order_by(DELIVERY.c.id))
    found = session.connection().execute(query).all()
    moved: dict[str, list[int]] = defaultdict(list)
    for row in found:
        moved[str(row.status)].append(row.id)
    suppressed_by_it = [row for row in found if row.status == DeliveryStatus.bounced
                        and row.sub_status == SubscriberStatus.bounced and row.sub_updated_at == row.updated_at]
    if dry_run:
        return dict(moved), sorted({(r.sid, r.email) for r in suppressed_by_it})
    reactivated = set()
    for row in suppressed_by_it:
        result = session.connection().execute(
            update(SUBSCRIBER).where(SUBSCRIBER.c.id == row.sid, SUBSCRIBER.c.status == SubscriberStatus.bounced,
                                     SUBSCRIBER.c.updated_at == row.updated_at)
            .values(status=SubscriberStatus.active, updated_at=now))
        if result.rowcount:
            reactivated.add((row.sid, row.email))
    done: dict[str, list[int]] = {}
    for status, ids in moved.items():
        for chunk in _chunks(ids, 500):
            done.setdefault(status, []).extend(_move(
                session, [DELIVERY.c.id.in_(chunk), DELIVERY.c.status == status],
                values={"status": DeliveryStatus.queued, "updated_at": now, "next_attempt_at": None,
                        "error": literal(f"{reason} (was {status}: ") + func.coalesce(DELIVERY.c.error, "") + ")"}))
    return done, sorted(reactivated)


def failure_reasons(session: Session, *, edition_id: int, limit: int = 5) -> list[tuple[str, int | None, str, int]]:
    """Why deliveries did not end sent: the `limit` most common (status, SMTP code, error) among those that
    did not end sent or skipped, then the `limit` most common reasons for skipping (a reason = its error)."""
    def top(where):
        query = (select(Delivery.status, Delivery.smtp_code, Delivery.error, func.count())
                 .where(Delivery.edition_id == edition_id, where)
                 .group_by(Delivery.status, Delivery.smtp_code, Delivery.error)
                 .order_by(func.count().desc(), Delivery.error).limit(limit))
        return [(str(st), code, err or "", n) for st, code, err, n in session.exec(query)]

    return (top(Delivery.status.not_in([DeliveryStatus.sent, DeliveryStatus.skipped]))
            + top(Delivery.status == DeliveryStatus.skipped))


def oldest_pending(session: Session, *, edition_id: int) -> datetime | None:
    query = select(func.min(Delivery.created_at)).where(
        Delivery.edition_id == edition_id,
        Delivery.status.in_([DeliveryStatus.queued, DeliveryStatus.deferred, DeliveryStatus.sending]))
    value = session.exec(query).one()
    if value is not None and value.tzinfo is None:
        from datetime import timezone

        value = value.replace(tzinfo=timezone.utc)
    return value
