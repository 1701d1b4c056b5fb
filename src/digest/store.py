"""The engine, sessions and every SQL statement. Functions take `session` first, keyword-only after.

Queries return plain records (`models.*Record`) or small tuples, never lazy ORM objects, to the pure stages.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy import bindparam, event, func, insert, or_, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, SQLModel, create_engine, select

from digest.errors import StoreError
from digest.models import (
    CARRIED, Article, ArticleRecord, Delivery, DeliveryItem, DeliveryStatus, Edition, EditionStatus, Engagement,
    EngagementRecord, Subscriber, SubscriberRecord, SubscriberStatus, article_record, subscriber_record,
)
from digest.models import StoryAssignment
from digest.models import Feed, FeedStatus, TrendingSignal


DELIVERY = Delivery.__table__  # bulk writes go through Core: the ORM's per-row bookkeeping costs milliseconds


# ── engine ──────────────────────────────────────────────────────────────────────────────────────────

def open_engine(url: str, *, readonly: bool = False) -> Engine:
    """An engine for `url`; a new SQLite file gets its schema. `readonly` never writes a byte."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(url, pool_pre_ping=True)
        if readonly:
            engine = engine.execution_options(postgresql_readonly=True)
    elif readonly:
        engine = _sqlite_readonly(parsed.database)
    else:
        engine = _sqlite_readwrite(parsed.database)
    if not readonly:
        _create_schema(engine, url)
    return engine


def _sqlite_readwrite(database: str | None) -> Engine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{database or ':memory:'}", connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(conn, _record):
        cur = conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return engine


def _sqlite_readonly(database: str | None) -> Engine:
    if not database or database == ":memory:" or not Path(database).is_file():
        raise StoreError(f"no store at {database}: run `digest demo` or `digest ingest` first")
    uri = f"file:{Path(database).resolve()}?mode=ro"
    return create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False))


def _create_schema(engine: Engine, url: str) -> None:
    try:
        SQLModel.metadata.create_all(engine)
    except OperationalError as exc:
        raise StoreError(f"cannot open store {make_url(url).render_as_string(hide_password=True)}: {exc.orig}") from None


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A session that never commits: for previews and dry runs."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
        finally:
            session.expunge_all()  # what was read stays readable after the session ends
            session.rollback()


# ── articles and engagement ─────────────────────────────────────────────────────────────────────────

ARTICLE_FIELDS = ("guid", "title", "summary", "body", "source", "author", "location", "country", "topics",
                  "image_url", "published_at")


def upsert_articles(session: Session, *, articles: Sequence[Article], now: datetime) -> dict[str, int]:
    """Insert new articles, update changed ones (by content hash), leave the rest: counts by outcome."""
    counts = {"new": 0, "updated": 0, "unchanged": 0}
    urls = [a.url for a in articles]
    existing = {}
    for chunk in _chunks(urls, 500):
        existing.update({a.url: a for a in session.exec(select(Article).where(Article.url.in_(chunk)))})
    by_guid = _articles_by_guid(session, [a.guid for a in articles if a.guid and a.guid != a.url
                                          and a.url not in existing])  # a feed item whose link moved
    for incoming in articles:
        current = existing.get(incoming.url) or by_guid.get(incoming.guid)
        if current is None:
            incoming.updated_at = incoming.updated_at or now
            session.add(incoming)
            existing[incoming.url] = incoming
            if incoming.guid and incoming.guid != incoming.url:
                by_guid[incoming.guid] = incoming
            counts["new"] += 1
        elif current.content_hash == incoming.content_hash:
            counts["unchanged"] += 1
        else:
            for name in ARTICLE_FIELDS + ("content_hash", "url"):
                setattr(current, name, getattr(incoming, name))
            current.updated_at = now
            counts["updated"] += 1
    session.flush()
    return counts


def _articles_by_guid(session: Session, guids: Sequence[str]) -> dict[str, Article]:
    found: dict[str, Article] = {}
    for chunk in _chunks(list(set(guids)), 500):
        found.update({a.guid: a for a in session.exec(select(Article).where(Article.guid.in_(chunk)))})
    return found


def article_ids_by_url(session: Session, *, urls: Iterable[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(list(set(urls)), 500):
        found.update(dict(session.exec(select(Article.url, Article.id).where(Article.url.in_(chunk))).all()))
    return found


def known_article_ids(session: Session, *, ids: Iterable[int]) -> set[int]:
    found: set[int] = set()
    for chunk in _chunks(list(set(ids)), 500):
        found.update(session.exec(select(Article.id).where(Article.id.in_(chunk))).all())
    return found


def add_engagement(session: Session, *, events: Iterable[tuple[int, datetime, str, int]]) -> int:
    """Add (article_id, time, kind, count) into hourly buckets; returns the number of buckets touched."""
    buckets: dict[tuple[int, datetime, str], int] = defaultdict(int)
    for article_id, at, kind, count in events:
        buckets[(article_id, at.replace(minute=0, second=0, microsecond=0), str(kind))] += count
    if not buckets:
        return 0
    hours = [h for _, h, _ in buckets]
    existing: dict[tuple[int, datetime, str], Engagement] = {}
    for chunk in _chunks(sorted({a for a, _, _ in buckets}), 500):
        query = select(Engagement).where(Engagement.article_id.in_(chunk), Engagement.hour >= min(hours),
                                         Engagement.hour <= max(hours))
        existing.update({(e.article_id, e.hour, str(e.kind)): e for e in session.exec(query)})
    for key, count in buckets.items():
        if key in existing:
            existing[key].count += count
        else:
            session.add(Engagement(article_id=key[0], hour=key[1], kind=key[2], count=count))
    session.flush()
    return len(buckets)


def count_engagement(session: Session, *, start: datetime | None = None, end: datetime | None = None) -> int:
    query = select(func.count()).select_from(Engagement)
    if start is not None:
        query = query.where(Engagement.hour >= start)
    if end is not None:
        query = query.where(Engagement.hour < end)
    return session.exec(query).one()


def list_articles(session: Session, *, since: datetime | None = None) -> list[Article]:
    query = select(Article).order_by(Article.published_at.desc(), Article.id)
    if since is not None:
        query = query.where(Article.published_at >= since)
    return list(session.exec(query))


def candidate_articles(session: Session, *, start: datetime, end: datetime) -> list[ArticleRecord]:
    query = select(Article).where(Article.published_at >= start, Article.published_at < end).order_by(Article.id)
    return [article_record(a) for a in session.exec(query)]


def articles_by_id(session: Session, *, ids: Iterable[int]) -> dict[int, ArticleRecord]:
    found: dict[int, ArticleRecord] = {}
    for chunk in _chunks(list(set(ids)), 500):
        found.update({a.id: article_record(a) for a in session.exec(select(Article).where(Article.id.in_(chunk)))})
    return found


def engagement_for(session: Session, *, article_ids: Sequence[int], start: datetime, end: datetime
                   ) -> list[EngagementRecord]:
    rows: list[EngagementRecord] = []
    for chunk in _chunks(list(article_ids), 500):
        query = select(Engagement).where(Engagement.article_id.in_(chunk), Engagement.hour >= start,
                                         Engagement.hour < end)
        rows.extend(EngagementRecord(e.article_id, e.hour, str(e.kind), e.count) for e in session.exec(query))
    return rows


# ── subscribers ─────────────────────────────────────────────────────────────────────────────────────

SUBSCRIBER_FIELDS = ("name", "topics", "countries", "frequency", "weekday", "send_at", "timezone", "max_items",
                     "format")


def upsert_subscribers(session: Session, *, subscribers: Sequence[Subscriber], now: datetime,
                       fields: Iterable[str] = SUBSCRIBER_FIELDS) -> dict[str, int]:
    """Insert by email, or update the given fields of an existing subscriber (status is left alone).

    Written with two executemany statements (Core), so 100,000 rows take seconds, not minutes.
    """
    table, fields = Subscriber.__table__, tuple(fields)
    existing: dict[str, int] = {}
    for chunk in _chunks([s.email for s in subscribers], 500):
        existing.update(session.connection().execute(
            select(table.c.email, table.c.id).where(table.c.email.in_(chunk))).all())
    new, changed, seen = [], [], set()
    for sub in subscribers:
        if sub.email in existing or sub.email in seen:
            changed.append({"b_email": sub.email, "b_updated_at": now, **{f"b_{f}": getattr(sub, f) for f in fields}})
        else:
            seen.add(sub.email)
            new.append({**{c: getattr(sub, c) for c in ("email", "status") + SUBSCRIBER_FIELDS},
                        "created_at": now, "updated_at": now})
    conn = session.connection()
    if new:
        conn.execute(insert(table), new)
    if changed:
        conn.execute(update(table).where(table.c.email == bindparam("b_email"))
                     .values(updated_at=bindparam("b_updated_at"), **{f: bindparam(f"b_{f}") for f in fields}),
                     changed)
    return {"new": len(new), "updated": len(changed)}


def list_subscribers(session: Session) -> list[Subscriber]:
    return list(session.exec(select(Subscriber).order_by(Subscriber.id)))


def find_subscriber(session: Session, *, email: str) -> Subscriber | None:
    return session.exec(select(Subscriber).where(Subscriber.email == email)).first()


def delete_subscriber(session: Session, *, email: str) -> bool:
    """Remove a subscriber and their delivery history."""
    sub = find_subscriber(session, email=email)
    if sub is None:
        return False
    delivery_ids = session.exec(select(Delivery.id).where(Delivery.subscriber_id == sub.id)).all()
    for chunk in _chunks(list(delivery_ids), 500):
        for item in session.exec(select(DeliveryItem).where(DeliveryItem.delivery_id.in_(chunk))):
            session.delete(item)
        for delivery in session.exec(select(Delivery).where(Delivery.id.in_(chunk))):
            session.delete(delivery)
    session.flush()
    session.delete(sub)
    session.flush()
    return True


def due_subscribers(session: Session, *, period: str, weekday: str, emails: Sequence[str] = (),
                    after_id: int = 0, limit: int = 1000, slot: tuple[str, str] | None = None
                    ) -> list[SubscriberRecord]:
    """Active subscribers due for a `period` edition on `weekday`, walked by id (a resumable cursor).

    `slot` = (timezone, send_at) keeps only the subscribers whose local send time that is.
    """
    query = select(Subscriber).where(Subscriber.status == SubscriberStatus.active, Subscriber.frequency == period,
                                     Subscriber.id > after_id)
    if period == "weekly":
        query = query.where(Subscriber.weekday == weekday)
    if emails:
        query = query.where(Subscriber.email.in_(list(emails)))
    if slot is not None:
        query = query.where(Subscriber.timezone == slot[0], Subscriber.send_at == slot[1])
    return [subscriber_record(s) for s in session.exec(query.order_by(Subscriber.id).limit(limit))]


def subscriber_statuses(session: Session, *, ids: Iterable[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for chunk in _chunks(list(set(ids)), 500):
        found.update({i: str(s) for i, s in session.exec(
            select(Subscriber.id, Subscriber.status).where(Subscriber.id.in_(chunk)))})
    return found


# ── editions and deliveries ─────────────────────────────────────────────────────────────────────────

def find_edition(session: Session, *, key: str) -> Edition | None:
    return session.exec(select(Edition).where(Edition.key == key)).first()


def ensure_edition(session: Session, *, key: str, period: str, date: str, cutoff_at: datetime,
                   now: datetime) -> Edition:
    edition = find_edition(session, key=key)
    if edition is None:
        edition = Edition(key=key, period=period, date=date, cutoff_at=cutoff_at, created_at=now)
        session.add(edition)
        session.flush()
    return edition


def mark_edition(session: Session, *, edition_id: int, status: EditionStatus, now: datetime) -> None:
    edition = session.get(Edition, edition_id)
    edition.status = status
    if status == EditionStatus.sending and edition.started_at is None:
        edition.started_at = now
    if status == EditionStatus.done:
        edition.finished_at = now
    session.flush()


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

    `planned` holds (subscriber_id, status, variant_key, error, items) with items as DeliveryItem objects.
    """
    if not planned:
        return 0
    conn = session.connection()
    rows = [{"edition_id": edition_id, "subscriber_id": sub_id, "status": status, "attempts": 0,
             "variant_key": vkey, "error": error, "created_at": now, "updated_at": now}
            for sub_id, status, vkey, error, _ in planned]
    ids = [r.id for r in conn.execute(insert(DELIVERY).returning(DELIVERY.c.id, sort_by_parameter_order=True), rows)]
    items = [{"delivery_id": delivery_id, "article_id": i.article_id, "story_key": i.story_key, "section": i.section,
              "position": i.position, "score": i.score, "why": i.why}
             for delivery_id, (*_, plan_items) in zip(ids, planned) for i in plan_items]
    if items:
        conn.execute(insert(DeliveryItem.__table__), items)
    return len(ids)


def add_delivery(session: Session, *, edition_id: int, subscriber_id: int, status: DeliveryStatus,
                 variant_key: str | None, items: Sequence[DeliveryItem], error: str | None, now: datetime) -> None:
    add_deliveries(session, edition_id=edition_id, planned=[(subscriber_id, status, variant_key, error, items)],
                   now=now)


def sendable_deliveries(session: Session, *, edition_id: int, size: int, now: datetime,
                        retry_deferred: bool = False, subscriber_ids: Sequence[int] | None = None) -> list[Delivery]:
    """Up to `size` deliveries a run may send now: queued ones, and deferred ones whose retry time has come."""
    deferred = Delivery.status == DeliveryStatus.deferred
    if not retry_deferred:
        deferred = deferred & (Delivery.next_attempt_at <= now)
    query = select(Delivery).where(Delivery.edition_id == edition_id,
                                   or_(Delivery.status == DeliveryStatus.queued, deferred))
    if subscriber_ids is not None:
        query = query.where(Delivery.subscriber_id.in_(list(subscriber_ids)))
    return list(session.exec(query.order_by(Delivery.id).limit(size)))


def claim(session: Session, *, message_ids: dict[int, str], now: datetime) -> dict[int, int]:
    """Move each still-sendable delivery to `sending` with its Message-ID: {claimed id: attempts}."""
    if not message_ids:
        return {}
    conn = session.connection()
    claimed: dict[int, int] = {}
    for chunk in _chunks(list(message_ids), 500):
        result = conn.execute(
            update(DELIVERY)
            .where(DELIVERY.c.id.in_(chunk), DELIVERY.c.status.in_([DeliveryStatus.queued, DeliveryStatus.deferred]))
            .values(status=DeliveryStatus.sending, attempts=DELIVERY.c.attempts + 1, updated_at=now)
            .returning(DELIVERY.c.id, DELIVERY.c.attempts))
        claimed.update({row.id: row.attempts for row in result})
    if claimed:
        conn.execute(update(DELIVERY).where(DELIVERY.c.id == bindparam("b_id"))
                     .values(message_id=bindparam("b_message_id")),
                     [{"b_id": i, "b_message_id": message_ids[i]} for i in claimed])
    return claimed


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
        found.update({s.id: subscriber_record(s) for s in session.exec(select(Subscriber).where(Subscriber.id.in_(chunk)))})
    return found


OUTCOME_FIELDS = ("status", "smtp_code", "smtp_reply", "error", "next_attempt_at", "sent_at")


def record_outcomes(session: Session, *, outcomes: Sequence[dict], now: datetime) -> None:
    """Write many outcomes in one statement: dicts with `id` and any of OUTCOME_FIELDS (others become NULL)."""
    if not outcomes:
        return
    params = [{"b_id": o["id"], "b_updated_at": now, **{f"b_{k}": o.get(k) for k in OUTCOME_FIELDS}}
              for o in outcomes]
    session.connection().execute(
        update(DELIVERY).where(DELIVERY.c.id == bindparam("b_id"))
        .values(updated_at=bindparam("b_updated_at"), **{k: bindparam(f"b_{k}") for k in OUTCOME_FIELDS}), params)


def record_outcome(session: Session, *, delivery_id: int, status: DeliveryStatus, now: datetime,
                   smtp_code: int | None = None, smtp_reply: str | None = None, error: str | None = None,
                   next_attempt_at: datetime | None = None) -> None:
    record_outcomes(session, outcomes=[{
        "id": delivery_id, "status": status, "smtp_code": smtp_code, "smtp_reply": smtp_reply, "error": error,
        "next_attempt_at": next_attempt_at, "sent_at": now if status == DeliveryStatus.sent else None}], now=now)


def recover_interrupted(session: Session, *, now: datetime) -> list[int]:
    """Rows left in `sending` by a dead process: the message may have gone out, so they become `unknown`.

    Call it only while holding the sender lock: then no live process is sending.
    """
    ids = list(session.exec(select(Delivery.id).where(Delivery.status == DeliveryStatus.sending)))
    for chunk in _chunks(ids, 500):
        session.exec(update(Delivery).where(Delivery.id.in_(chunk)).values(
            status=DeliveryStatus.unknown, updated_at=now,
            error="interrupted while sending: the message may or may not have been delivered"))
    return ids


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


def editions_for_date(session: Session, *, date: str) -> list[Edition]:
    return list(session.exec(select(Edition).where(Edition.date == date).order_by(Edition.key)))


def latest_edition_date(session: Session) -> str | None:
    return session.exec(select(Edition.date).order_by(Edition.created_at.desc()).limit(1)).first()


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# ── reliability: deadlines, operator retries, slots, status, the sender lock ────────────────────────

def extend_deadline(session: Session, *, edition_id: int, deadline: datetime) -> datetime:
    """An edition's deadline only ever moves later (an operator's `digest send` restarts the clock)."""
    edition = session.get(Edition, edition_id)
    if edition.deadline_at is None or edition.deadline_at < deadline:
        edition.deadline_at = deadline
        session.flush()
    return edition.deadline_at


def expire_remaining(session: Session, *, edition_id: int, now: datetime) -> list[int]:
    """Queued and deferred deliveries of an edition whose deadline passed become `expired`."""
    ids = list(session.exec(select(Delivery.id).where(
        Delivery.edition_id == edition_id,
        Delivery.status.in_([DeliveryStatus.queued, DeliveryStatus.deferred]))))
    for chunk in _chunks(ids, 500):
        session.exec(update(Delivery).where(Delivery.id.in_(chunk)).values(
            status=DeliveryStatus.expired, updated_at=now, next_attempt_at=None,
            error="the edition's deadline passed before it could be sent"))
    return ids


def requeue_unknown(session: Session, *, edition_id: int, now: datetime,
                    subscriber_ids: Sequence[int] | None = None) -> list[int]:
    """`unknown` → `queued`: only ever on an operator's explicit request (`send --retry-unknown`)."""
    query = select(Delivery.id).where(Delivery.edition_id == edition_id, Delivery.status == DeliveryStatus.unknown)
    if subscriber_ids is not None:
        query = query.where(Delivery.subscriber_id.in_(list(subscriber_ids)))
    ids = list(session.exec(query))
    for chunk in _chunks(ids, 500):
        session.exec(update(Delivery).where(Delivery.id.in_(chunk)).values(
            status=DeliveryStatus.queued, updated_at=now, error="requeued by the operator after an unknown outcome"))
    return ids


def send_slots(session: Session) -> list[tuple[str, str | None, str, str]]:
    """Distinct (frequency, weekday, timezone, send_at) of active subscribers: the daemon's send slots."""
    query = (select(Subscriber.frequency, Subscriber.weekday, Subscriber.timezone, Subscriber.send_at)
             .where(Subscriber.status == SubscriberStatus.active).distinct())
    return [(str(f), w, tz, at) for f, w, tz, at in session.exec(query)]


def editions_with_due_retries(session: Session, *, now: datetime) -> list[Edition]:
    query = (select(Edition).join(Delivery, Delivery.edition_id == Edition.id)
             .where(Delivery.status == DeliveryStatus.deferred, Delivery.next_attempt_at <= now).distinct())
    return list(session.exec(query.order_by(Edition.id)))


def failure_reasons(session: Session, *, edition_id: int, limit: int = 5) -> list[tuple[str, int | None, str, int]]:
    """The most common (status, SMTP code, error) among deliveries that did not end sent or skipped."""
    query = (select(Delivery.status, Delivery.smtp_code, Delivery.error, func.count())
             .where(Delivery.edition_id == edition_id,
                    Delivery.status.not_in([DeliveryStatus.sent, DeliveryStatus.skipped]))
             .group_by(Delivery.status, Delivery.smtp_code, Delivery.error)
             .order_by(func.count().desc()).limit(limit))
    return [(str(st), code, err or "", n) for st, code, err, n in session.exec(query)]


def oldest_pending(session: Session, *, edition_id: int) -> datetime | None:
    query = select(func.min(Delivery.created_at)).where(
        Delivery.edition_id == edition_id,
        Delivery.status.in_([DeliveryStatus.queued, DeliveryStatus.deferred, DeliveryStatus.sending]))
    value = session.exec(query).one()
    if value is not None and value.tzinfo is None:
        from datetime import timezone

        value = value.replace(tzinfo=timezone.utc)
    return value


# ── stories ─────────────────────────────────────────────────────────────────────────────────────────

def story_assignments(session: Session, *, article_ids: Iterable[int]) -> dict[int, str]:
    """article id → its stored story key, for the articles that have one."""
    connection = session.connection()
    if not connection.dialect.has_table(connection, StoryAssignment.__tablename__):
        return {}  # a read-only store created before stories existed
    found: dict[int, str] = {}
    for chunk in _chunks(sorted(set(article_ids)), 500):
        query = select(StoryAssignment.article_id, StoryAssignment.story_key).where(
            StoryAssignment.article_id.in_(chunk))
        found.update(dict(session.exec(query).all()))
    return found


def save_story_assignments(session: Session, *, assignments: dict[int, str], now: datetime) -> int:
    """Insert new (article → story key) rows and update changed ones; returns how many were written."""
    current = story_assignments(session, article_ids=assignments)
    changed = {a: k for a, k in assignments.items() if current.get(a) != k}
    for article_id, key in changed.items():
        if article_id in current:
            session.exec(update(StoryAssignment).where(StoryAssignment.article_id == article_id)
                         .values(story_key=key, assigned_at=now))
        else:
            session.add(StoryAssignment(article_id=article_id, story_key=key, assigned_at=now))
    session.flush()
    return len(changed)


# ── feeds and trending signals ──────────────────────────────────────────────────────────────────────

def add_feed(session: Session, *, url: str, topics: Sequence[str], country: str | None, now: datetime
             ) -> tuple[Feed, bool]:
    """Register a feed, or update the topics and country of one already registered: (feed, created)."""
    feed = find_feed(session, url=url)
    created = feed is None
    if created:
        feed = Feed(url=url, created_at=now)
        session.add(feed)
    feed.topics, feed.country = list(topics), country
    session.flush()
    return feed, created


def find_feed(session: Session, *, url: str) -> Feed | None:
    return session.exec(select(Feed).where(Feed.url == url)).first()


def list_feeds(session: Session) -> list[Feed]:
    return list(session.exec(select(Feed).order_by(Feed.id)))


def remove_feed(session: Session, *, url: str) -> bool:
    feed = find_feed(session, url=url)
    if feed is not None:
        session.delete(feed)
        session.flush()
    return feed is not None


def record_feed_fetch(session: Session, *, feed_id: int, now: datetime, status: FeedStatus,
                      http_status: int | None = None, etag: str | None = None, last_modified: str | None = None,
                      error: str | None = None, result: str | None = None) -> None:
    """What the last poll of a feed did; validators are kept from a 304 and replaced by a 200."""
    feed = session.get(Feed, feed_id)
    feed.status, feed.http_status, feed.last_fetch_at, feed.last_error = status, http_status, now, error
    if status == FeedStatus.ok:
        feed.etag, feed.last_modified, feed.last_result, feed.last_ok_at = etag, last_modified, result, now
    elif status == FeedStatus.not_modified:
        feed.last_ok_at = now
    session.flush()


def add_trending_signals(session: Session, *, signals: Sequence[TrendingSignal]) -> dict[str, int]:
    """Insert signals by (page, title), or refresh the rank and region of one seen before; link stored articles
    whose title is the signal's."""
    counts = {"new": 0, "updated": 0, "unchanged": 0}
    titles = {s.title.lower() for s in signals}
    articles = dict(session.exec(select(func.lower(Article.title), Article.id)
                                 .where(func.lower(Article.title).in_(list(titles)))).all()) if titles else {}
    for signal in signals:
        current = session.exec(select(TrendingSignal).where(TrendingSignal.page_url == signal.page_url,
                                                            TrendingSignal.title == signal.title)).first()
        signal.article_id = articles.get(signal.title.lower())
        if current is None:
            session.add(signal)
            counts["new"] += 1
        elif (current.rank, current.region, current.article_id) == (signal.rank, signal.region, signal.article_id):
            counts["unchanged"] += 1
        else:
            current.rank, current.region, current.seen_at = signal.rank, signal.region, signal.seen_at
            current.article_id = signal.article_id
            counts["updated"] += 1
    session.flush()
    return counts


def trending_signals(session: Session, *, start: datetime, end: datetime) -> list[TrendingSignal]:
    query = select(TrendingSignal).where(TrendingSignal.seen_at >= start, TrendingSignal.seen_at < end)
    return list(session.exec(query.order_by(TrendingSignal.seen_at, TrendingSignal.rank)))
