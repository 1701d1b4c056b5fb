"""The engine, sessions and every SQL statement. Functions take `session` first, keyword-only after.

Queries return plain records (`models.*Record`) or small tuples, never lazy ORM objects, to the pure stages.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Float, bindparam, case, column, event, func, insert, or_, update, values
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, SQLModel, create_engine, select

from digest.errors import StoreError
from digest.models import (
    CARRIED, UTCDateTime, Article, ArticleRecord, Delivery, DeliveryItem, DeliveryStatus, Edition, EditionStatus, Engagement,
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
    elif missing := _missing_columns(engine):
        raise StoreError(f"the store was made by an older digest (no column {missing[0]}): open it read-write once "
                         "(e.g. `digest feeds list` or `digest serve`) to add the new columns")
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
        _add_missing_columns(engine)
    except OperationalError as exc:
        raise StoreError(f"cannot open store {make_url(url).render_as_string(hide_password=True)}: {exc.orig}") from None


def _add_missing_columns(engine: Engine) -> None:
    """Add the nullable columns a newer version appended to an existing table (a store keeps working)."""
    from sqlalchemy import text

    for name in _missing_columns(engine):
        table, column = name.split(".")
        kind = SQLModel.metadata.tables[table].columns[column].type.compile(dialect=engine.dialect)
        with engine.begin() as conn:
            conn.execute(text(f'ALTER TABLE "{table}" ADD COLUMN "{column}" {kind}'))


def _missing_columns(engine: Engine) -> list[str]:
    """Each nullable model column ("table.column") that an existing table lacks; new tables do not count."""
    from sqlalchemy import inspect

    try:
        inspector = inspect(engine)
        tables = [t for t in SQLModel.metadata.sorted_tables if inspector.has_table(t.name)]
        present = {t.name: {c["name"] for c in inspector.get_columns(t.name)} for t in tables}
    except OperationalError:
        return []  # not a store we can read: the first query says why
    return [f"{t.name}.{c.name}" for t in tables for c in t.columns if c.name not in present[t.name] and c.nullable]


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


ARTICLE = Article.__table__
RECORD_COLUMNS = ("id", "url", "title", "summary", "source", "published_at", "location", "country", "topics",
                  "image_url")


def candidate_articles(session: Session, *, start: datetime, end: datetime) -> list[ArticleRecord]:
    """Articles published in [start, end), as records (Core: 100,000 rows in a fraction of a second)."""
    body = func.substr(ARTICLE.c.body, 1, 4000).label("body")  # the lead is all the records need
    query = (select(*(ARTICLE.c[name] for name in RECORD_COLUMNS), body)
             .where(ARTICLE.c.published_at >= start, ARTICLE.c.published_at < end).order_by(ARTICLE.c.id))
    return [article_record(row) for row in session.connection().execute(query)]


def engagement_signals(session: Session, *, start: datetime, now: datetime, factors: Sequence[tuple[datetime, float]],
                       weights: dict[str, float], recent_since: datetime, baseline_since: datetime
                       ) -> list[tuple[int, float, int, int]]:
    """Per candidate article (published in [start, now)): (id, Σ weight·count·factor(hour), views since
    `recent_since`, views in [baseline_since, recent_since)), aggregated in the database.

    `factors` gives the decay factor of each hour bucket; buckets not listed do not count.
    """
    if not factors:
        return []
    hours = values(column("hour", UTCDateTime()), column("factor", Float()), name="decay").data(list(factors)).cte("decay")
    engagement = Engagement.__table__
    weight = case(*((engagement.c.kind == kind, w) for kind, w in weights.items()), else_=0.0)
    is_view = engagement.c.kind == "view"
    query = (
        select(engagement.c.article_id,
               func.sum(engagement.c.count * hours.c.factor * weight),
               func.sum(case((is_view & (engagement.c.hour >= recent_since), engagement.c.count), else_=0)),
               func.sum(case((is_view & (engagement.c.hour >= baseline_since) & (engagement.c.hour < recent_since),
                              engagement.c.count), else_=0)))
        .select_from(hours.join(engagement, engagement.c.hour == hours.c.hour)
                     .join(ARTICLE, ARTICLE.c.id == engagement.c.article_id))
        .where(ARTICLE.c.published_at >= start, ARTICLE.c.published_at < now)
        .group_by(engagement.c.article_id))
    return [(a, float(e or 0), int(r or 0), int(b or 0)) for a, e, r, b in session.connection().execute(query)]


def reference_views(session: Session, *, published_before: datetime, published_after: datetime, now: datetime,
                    limit: int = 300) -> dict[int, tuple[datetime, list[tuple[datetime, int]]]]:
    """View buckets of up to `limit` older articles, for the median curve: id → (published, [(hour, count)])."""
    engagement = Engagement.__table__
    refs = (select(ARTICLE.c.id).where(ARTICLE.c.published_at >= published_after,
                                       ARTICLE.c.published_at < published_before)
            .order_by(ARTICLE.c.id).limit(limit).subquery())
    query = (select(engagement.c.article_id, ARTICLE.c.published_at, engagement.c.hour, engagement.c.count)
             .join(ARTICLE, ARTICLE.c.id == engagement.c.article_id)
             .where(engagement.c.article_id.in_(select(refs.c.id)), engagement.c.kind == "view",
                    engagement.c.hour < now))
    found: dict[int, list] = defaultdict(list)
    for article_id, _, hour, count in session.connection().execute(query):
        found[article_id].append((hour, count))
    ids = select(ARTICLE.c.id, ARTICLE.c.published_at).where(ARTICLE.c.id.in_(select(refs.c.id)))
    return {i: (published, found.get(i, [])) for i, published in session.connection().execute(ids)}


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
                    after_id: int = 0, limit: int = 1000, slot: tuple[str, str] | None = None,
                    day: date | None = None) -> list[SubscriberRecord]:
    """Active subscribers due for a `period` edition on `weekday`, walked by id (a resumable cursor).

    `slot` = (timezone, send_at) keeps only the subscribers whose local send time that is; `day` leaves out
    the subscribers who paused their digest until a later date.
    """
    query = select(Subscriber).where(Subscriber.status == SubscriberStatus.active, Subscriber.frequency == period,
                                     Subscriber.id > after_id)
    if day is not None:
        query = query.where(or_(Subscriber.paused_until.is_(None), Subscriber.paused_until <= day))
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


def add_delivery(session: Session, *, edition_id: int, subscriber_id: int, status: DeliveryStatus,
                 variant_key: str | None, items: Sequence[DeliveryItem | dict], error: str | None, now: datetime
                 ) -> None:
    fields = ("article_id", "story_key", "section", "position", "score", "why")
    rows = [i if isinstance(i, dict) else {f: getattr(i, f) for f in fields} for i in items]
    add_deliveries(session, edition_id=edition_id, planned=[(subscriber_id, status, variant_key, error, rows)],
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
        rows = session.connection().execute(select(Subscriber.__table__).where(Subscriber.__table__.c.id.in_(chunk)))
        found.update({row.id: subscriber_record(row) for row in rows})
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


def upsert_article_rows(session: Session, *, rows: Sequence[dict], now: datetime) -> dict[str, int]:
    """`upsert_articles` for plain rows (dicts of Article columns), fast enough for big exports: identity by URL,
    then guid; a changed content hash updates the row (and `updated_at`); new rows go in with one bulk INSERT."""
    counts = {"new": 0, "updated": 0, "unchanged": 0}
    known = _article_keys(session, rows)  # url or guid → [id, url, content_hash]
    pending: dict[str, dict] = {}
    for row in rows:
        key = row["url"] if row["url"] in known else row["guid"] if row["guid"] in known else None
        if key is None:
            pending[row["url"]] = row
            known[row["url"]] = known.setdefault(row["guid"], [None, row["url"], row["content_hash"]])
            counts["new"] += 1
        elif known[key][2] == row["content_hash"]:
            counts["unchanged"] += 1
        else:
            _apply_change(session, known[key], row, pending, now)
            counts["updated"] += 1
    if pending:
        session.execute(insert(Article), list(pending.values()))
    session.flush()
    return counts


def _article_keys(session: Session, rows: Sequence[dict]) -> dict[str, list]:
    keys: dict[str, list] = {}
    columns = select(Article.id, Article.url, Article.guid, Article.content_hash)
    for chunk in _chunks([r["url"] for r in rows], 500):
        for id_, url, guid, digest in session.exec(columns.where(Article.url.in_(chunk))):
            keys[url] = [id_, url, digest]
    guids = [r["guid"] for r in rows if r["guid"] and r["guid"] != r["url"] and r["url"] not in keys]
    for chunk in _chunks(guids, 500):
        for id_, url, guid, digest in session.exec(columns.where(Article.guid.in_(chunk))):
            keys.setdefault(guid, [id_, url, digest])
    return keys


def _apply_change(session: Session, current: list, row: dict, pending: dict[str, dict], now: datetime) -> None:
    id_, url, _ = current
    if id_ is None:  # the same item twice in one batch: the later one wins
        pending.pop(url, None)
        pending[row["url"]] = row
    else:
        session.exec(update(Article).where(Article.id == id_).values({**row, "updated_at": now}))
    current[1], current[2] = row["url"], row["content_hash"]


# ── the reader's side: web pages, sign-ups, bounces ─────────────────────────────────────────────────

def ping(session: Session) -> None:
    """Raises when the store cannot answer (for `GET /healthz`)."""
    session.exec(select(Edition.id).limit(1)).first()


def subscriber_by_id(session: Session, *, subscriber_id: int) -> Subscriber | None:
    return session.get(Subscriber, subscriber_id)


def known_topics_and_countries(session: Session, *, recent: int = 5000) -> tuple[list[str], list[str]]:
    """The topics and countries of the `recent` newest articles, sorted: what a reader can choose from."""
    query = select(Article.topics, Article.country).order_by(Article.published_at.desc()).limit(recent)
    topics: set[str] = set()
    countries: set[str] = set()
    for article_topics, country in session.exec(query):
        topics.update(t for t in article_topics or () if t)
        if country:
            countries.add(country)
    return sorted(topics, key=str.lower), sorted(countries, key=str.lower)


def set_subscriber_status(session: Session, *, subscriber_id: int, status: SubscriberStatus, now: datetime,
                          only_from: Sequence[SubscriberStatus]) -> bool:
    """Move a subscriber to `status` if their status is one of `only_from`; True when it changed."""
    result = session.exec(update(Subscriber).where(Subscriber.id == subscriber_id, Subscriber.status.in_(only_from))
                          .values(status=status, updated_at=now))
    return bool(result.rowcount)


def update_preferences(session: Session, *, subscriber_id: int, values: dict, now: datetime) -> None:
    session.exec(update(Subscriber).where(Subscriber.id == subscriber_id).values(**values, updated_at=now))


def add_pending_subscriber(session: Session, *, subscriber: Subscriber, source: str, now: datetime
                           ) -> Subscriber | None:
    """A web sign-up: a new `pending` subscriber, or an unsubscribed or pending one asked again; None when the
    address is active or suppressed (nothing to confirm, nothing to send)."""
    current = find_subscriber(session, email=subscriber.email)
    if current is not None and current.status not in (SubscriberStatus.pending, SubscriberStatus.unsubscribed):
        return None
    if current is None:
        current = subscriber
        current.created_at = now
        session.add(current)
    current.status, current.consent_source, current.updated_at = SubscriberStatus.pending, source[:200], now
    session.flush()
    return current


def confirm_subscriber(session: Session, *, subscriber_id: int, now: datetime) -> bool:
    """pending → active, recording when consent was given; True when it changed."""
    result = session.exec(update(Subscriber).where(Subscriber.id == subscriber_id,
                                                   Subscriber.status == SubscriberStatus.pending)
                          .values(status=SubscriberStatus.active, consent_at=now, updated_at=now))
    return bool(result.rowcount)


def subscriber_delivery(session: Session, *, edition_key: str, subscriber_id: int) -> tuple[Edition, Delivery] | None:
    query = (select(Edition, Delivery).join(Delivery, Delivery.edition_id == Edition.id)
             .where(Edition.key == edition_key, Delivery.subscriber_id == subscriber_id))
    return session.exec(query).first()


def delivery_links(session: Session, *, delivery_id: int, subscriber_id: int) -> dict[int, str]:
    """article id → URL of every article a delivery to this subscriber carried (leads and "also covered by")."""
    owner = session.exec(select(Delivery.subscriber_id).where(Delivery.id == delivery_id)).first()
    if owner != subscriber_id:
        return {}
    items = delivery_items(session, delivery_ids=[delivery_id]).get(delivery_id, [])
    ids = {i.article_id for i in items} | {a for i in items for a in i.why.get("also", [])}
    return {a.id: a.url for a in articles_by_id(session, ids=ids).values()}


def delivery_by_message_id(session: Session, *, message_id: str) -> Delivery | None:
    return session.exec(select(Delivery).where(Delivery.message_id == message_id)).first()


def delivery_by_id(session: Session, *, delivery_id: int) -> Delivery | None:
    return session.get(Delivery, delivery_id)


def record_bounce(session: Session, *, delivery_id: int, smtp_code: int | None, smtp_reply: str, error: str,
                  now: datetime) -> bool:
    """sent | unknown → bounced, from a bounce report; False when the delivery was not in one of those."""
    result = session.exec(update(Delivery).where(Delivery.id == delivery_id, Delivery.status.in_(
        [DeliveryStatus.sent, DeliveryStatus.unknown])).values(
        status=DeliveryStatus.bounced, smtp_code=smtp_code, smtp_reply=smtp_reply[:500], error=error[:500],
        updated_at=now))
    return bool(result.rowcount)


def recent_outcomes(session: Session, *, subscriber_id: int, limit: int = 20) -> list[tuple[str, str | None]]:
    """(status, SMTP reply) of the subscriber's latest deliveries that went out or bounced, newest first."""
    query = (select(Delivery.status, Delivery.smtp_reply)
             .where(Delivery.subscriber_id == subscriber_id, Delivery.status.in_(
                 [DeliveryStatus.sent, DeliveryStatus.unknown, DeliveryStatus.bounced]))
             .order_by(Delivery.id.desc()).limit(limit))
    return [(str(st), reply) for st, reply in session.exec(query)]
