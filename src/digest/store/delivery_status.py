"""An edition's deliveries as a whole (the `delivery` table): their counts, problems and failure reasons, the oldest
still pending, the worker jobs sending now, a reader's recent outcomes; and the moves made on many at once: the
deadline's expiry and the operator's requeues.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timezone

from sqlalchemy import func, literal, text
from sqlmodel import Session, select

from digest.models import Delivery, DeliveryStatus, SubscriberStatus
from digest.store.deliveries import DELIVERY, REQUEUEABLE, SENDABLE, _move
from digest.store.engine import _chunks
from digest.store.subscribers import SUBSCRIBER, reactivate_bounced


# The statuses other than sent and skipped, named (not `NOT IN (sent, skipped)`): ranges of the index
# ix_delivery_edition_status, where NOT IN would walk every one of the edition's entries.
NOT_SENT = tuple(s for s in DeliveryStatus if s not in (DeliveryStatus.sent, DeliveryStatus.skipped))
PENDING = (DeliveryStatus.queued, DeliveryStatus.deferred, DeliveryStatus.sending)
# These run for every edition of the console's overview (30 days of them): SQLAlchemy Core statements, whose
# rows come back as tuples (an ORM select of the same columns costs about twice as much per statement).
D = DELIVERY.c


# The edition's deliveries counted in ix_delivery_edition_id (its smallest index: an entry is the edition and the
# row id) and those of each status but sent over its range of ix_delivery_edition_status (each status a
# parameter, compared only: PostgreSQL's status is an enum type, a parameter also selected as text would be
# refused); the sent ones are the rest. Once an edition is out nearly all are sent: their range is most of the
# edition's entries, and walking them in the status index takes about twice as long (bigger entries) as
# counting the whole edition in its own.
_STATUSES = tuple(str(s) for s in DeliveryStatus)
_OTHERS = tuple(s for s in _STATUSES if s != DeliveryStatus.sent)
COUNTS = text("SELECT -1, (SELECT count(*) FROM delivery WHERE edition_id = :edition) UNION ALL " + " UNION ALL ".join(
    f"SELECT {n}, (SELECT count(*) FROM delivery WHERE edition_id = :edition AND status = :s{n})"
    for n in range(len(_OTHERS))))


def edition_counts(session: Session, *, edition_id: int) -> dict[str, int]:
    """{status: deliveries} of the edition, by status (those it has none in left out)."""
    values = {"edition": edition_id, **{f"s{n}": status for n, status in enumerate(_OTHERS)}}
    found = dict(session.connection().execute(COUNTS, values).all())
    total = found.pop(-1)
    counts = {_OTHERS[i]: n for i, n in found.items()}
    counts[str(DeliveryStatus.sent)] = total - sum(counts.values())
    return dict(sorted((status, n) for status, n in counts.items() if n))


def edition_problems(session: Session, *, edition_id: int, limit: int = 50) -> list[tuple[str, str, int | None, str]]:
    """(email, status, smtp code, error) of the first `limit` deliveries that did not end sent or skipped.

    Their ids are taken from the index ix_delivery_edition_status alone (`ORDER BY id + 0`: ordered by id,
    SQLite would walk every delivery of the edition in id order and read each row's status, a million rows
    of a clean edition for none found); only those `limit` rows are read and joined."""
    first = (select(D.id).where(D.edition_id == edition_id, D.status.in_(NOT_SENT))
             .order_by(D.id + 0).limit(limit))
    query = (select(SUBSCRIBER.c.email, D.status, D.smtp_code, D.error)
             .join(SUBSCRIBER, SUBSCRIBER.c.id == D.subscriber_id)
             .where(D.id.in_(first.scalar_subquery())).order_by(D.id))
    return [(e, str(s), c, err or "") for e, s, c, err in session.connection().execute(query)]


def failure_reasons(session: Session, *, edition_id: int, limit: int = 5) -> list[tuple[str, int | None, str, int]]:
    """Why deliveries did not end sent: the `limit` most common (status, SMTP code, error) among those that
    did not end sent or skipped, then the `limit` most common reasons for skipping (a reason = its error)."""
    def top(where):
        query = (select(D.status, D.smtp_code, D.error, func.count())
                 .where(D.edition_id == edition_id, where)
                 .group_by(D.status, D.smtp_code, D.error)
                 .order_by(func.count().desc(), D.error).limit(limit))
        return [(str(st), code, err or "", n) for st, code, err, n in session.connection().execute(query)]

    return top(D.status.in_(NOT_SENT)) + top(D.status == DeliveryStatus.skipped)


def oldest_pending(session: Session, *, edition_id: int) -> datetime | None:
    query = select(func.min(D.created_at)).where(D.edition_id == edition_id, D.status.in_(PENDING))
    value = session.connection().execute(query).scalar()
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def sending_owners(session: Session) -> list[str]:
    """The worker jobs ("job:N") that have deliveries in `sending` now."""
    query = select(Delivery.claimed_by).where(Delivery.status == DeliveryStatus.sending,
                                              Delivery.claimed_by.is_not(None)).distinct()
    return list(session.exec(query))


def recent_outcomes(session: Session, *, subscriber_id: int, limit: int = 20) -> list[tuple[str, str | None]]:
    """(status, SMTP reply) of the subscriber's latest deliveries that went out or bounced, newest first."""
    query = (select(Delivery.status, Delivery.smtp_reply)
             .where(Delivery.subscriber_id == subscriber_id, Delivery.status.in_(
                 [DeliveryStatus.sent, DeliveryStatus.unknown, DeliveryStatus.bounced]))
             .order_by(Delivery.id.desc()).limit(limit))
    return [(str(st), reply) for st, reply in session.exec(query)]


# ── many at once: the deadline, the operator ────────────────────────────────────────────────────────


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
                     until: datetime | None = None, dry_run: bool = False,
                     requeueable: Sequence[DeliveryStatus] = REQUEUEABLE
                     ) -> tuple[dict[str, list[int]], list[tuple[int, str]]]:
    """failed | bounced | unknown (or the given `requeueable`: the breaker's storm adds deferred) → queued, for the rows of an edition last changed in [since, until) (or the
    given `delivery_ids`), and the readers those rows' bounces suppressed back to `active`.

    A reader is reactivated only where that row's bounce suppressed them: the subscriber is still `bounced`
    and was last changed in the same transaction as the row (same time), so a reader suppressed by another
    bounce, or changed since, stays as they are. Returns ({status: delivery ids}, [(subscriber id, email)]).
    """
    found = _requeueable(session, edition_id=edition_id, statuses=statuses, delivery_ids=delivery_ids,
                         since=since, until=until, requeueable=requeueable)
    moved: dict[str, list[int]] = defaultdict(list)
    for row in found:
        moved[str(row.status)].append(row.id)
    suppressed_by_it = [(row.sid, row.email, row.updated_at) for row in found if row.status == DeliveryStatus.bounced
                        and row.sub_status == SubscriberStatus.bounced and row.sub_updated_at == row.updated_at]
    if dry_run:
        return dict(moved), sorted({(sid, email) for sid, email, _ in suppressed_by_it})
    reactivated = reactivate_bounced(session, suppressed=suppressed_by_it, now=now)
    done: dict[str, list[int]] = {}
    for status, ids in moved.items():
        for chunk in _chunks(ids, 500):
            done.setdefault(status, []).extend(_move(
                session, [DELIVERY.c.id.in_(chunk), DELIVERY.c.status == status],
                values={"status": DeliveryStatus.queued, "updated_at": now, "next_attempt_at": None,
                        "error": literal(f"{reason} (was {status}: ") + func.coalesce(DELIVERY.c.error, "") + ")"}))
    return done, sorted(reactivated)


def _requeueable(session: Session, *, edition_id: int, statuses: Sequence[DeliveryStatus],
                 delivery_ids: Sequence[int] | None, since: datetime | None, until: datetime | None,
                 requeueable: Sequence[DeliveryStatus] = REQUEUEABLE) -> list:
    """The edition's rows in a requeueable status among `statuses`, with their subscriber's status and time."""
    wanted = [DeliveryStatus(s) for s in statuses if DeliveryStatus(s) in requeueable]
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
    return session.connection().execute(query).all()
