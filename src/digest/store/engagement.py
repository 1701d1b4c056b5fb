"""Engagement: the hourly buckets of views, clicks, shares and comments (the `engagement` table), the signals an
edition aggregates from them in the database, and the counted clicks (one per delivery and article).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, Float, case, cast, column, func, literal, values
from sqlmodel import Session, select

from digest.models import CountedClick, Engagement, UTCDateTime
from digest.store import selection
from digest.store.articles import ARTICLE
from digest.store.engine import _chunks, _dialect_insert


MAX_BUCKET = 2**31 - 1  # an hourly bucket saturates here (PostgreSQL's integer) instead of failing


def add_engagement(session: Session, *, events: Iterable[tuple[int, datetime, str, int]]) -> int:
    """Add (article_id, time, kind, count) into hourly buckets; returns the number of buckets touched.

    One `INSERT … ON CONFLICT DO UPDATE SET count = count + excluded.count` per chunk: concurrent writers add
    up, none overwrites another's count (a read-then-write lost ~15 % of 200 parallel requests). Keys are
    written in sorted order so that two multi-row upserts on PostgreSQL never wait for each other in a cycle.
    """
    buckets: dict[tuple[int, datetime, str], int] = defaultdict(int)
    for article_id, at, kind, count in events:
        key = (article_id, at.replace(minute=0, second=0, microsecond=0), str(kind))
        buckets[key] = min(MAX_BUCKET, buckets[key] + count)
    rows = [{"article_id": a, "hour": h, "kind": k, "count": c} for (a, h, k), c in sorted(buckets.items())]
    for chunk in _chunks(rows, 500):
        session.exec(_upsert_engagement(session, chunk))
    return len(rows)


def _upsert_engagement(session: Session, rows: Sequence[dict]):
    table = Engagement.__table__
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    statement = dialect_insert(table).values(list(rows))
    total = cast(table.c.count, BigInteger) + statement.excluded.count
    return statement.on_conflict_do_update(
        index_elements=[table.c.article_id, table.c.hour, table.c.kind],
        set_={"count": case((total > MAX_BUCKET, MAX_BUCKET), else_=total)})


def count_engagement(session: Session, *, start: datetime | None = None, end: datetime | None = None) -> int:
    query = select(func.count()).select_from(Engagement)
    if start is not None:
        query = query.where(Engagement.hour >= start)
    if end is not None:
        query = query.where(Engagement.hour < end)
    return session.exec(query).one()


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


def count_click(session: Session, *, delivery_id: int, article_id: int, now: datetime) -> bool:
    """Record the click on (delivery, article); True only the first time (an atomic insert-or-nothing)."""
    statement = _dialect_insert(session, CountedClick.__table__).values(
        delivery_id=delivery_id, article_id=article_id, clicked_at=now).on_conflict_do_nothing(
        index_elements=["delivery_id", "article_id"]).returning(CountedClick.__table__.c.id)
    return session.exec(statement).first() is not None  # (rowcount is not reliable here on PostgreSQL)


def article_engagement(session: Session, *, since: datetime, now: datetime, half_life_hours: float,
                       weights: dict[str, float], recent_since: datetime, baseline_since: datetime
                       ) -> list[tuple[int, float, int, int]]:
    """`engagement_signals` for every article with buckets in [since, now), in one pass over the
    (article_id, hour, kind, count) index: the decay 2^(−age_h/h) is computed per bucket by the database
    (PostgreSQL's power(); SQLite's exp() of unixepoch's seconds, as `selection.kept_candidates` has it, so both
    paths give the same E to the bit), so nothing is joined. Falls back to `engagement_signals`'
    per-hour table on an SQLite built without math functions. Rows: (article id, E, recent views, baseline views)."""
    engagement = Engagement.__table__
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite" and not selection.available(session):
        first, hours = since.replace(minute=0, second=0, microsecond=0), []
        while first < now:
            hours.append((first, 2 ** (-((now - first).total_seconds() / 3600) / half_life_hours)))
            first += timedelta(hours=1)
        return engagement_signals(session, start=datetime.min.replace(tzinfo=now.tzinfo), now=now, factors=hours,
                                  weights=weights,
                                  recent_since=recent_since, baseline_since=baseline_since)
    at = literal(now, UTCDateTime())
    if dialect == "postgresql":
        age = func.extract("epoch", at - engagement.c.hour) / 3600.0
    else:
        age = (func.julianday(at) - func.julianday(engagement.c.hour)) * 24.0
    decay = func.power(2.0, age / -float(half_life_hours))
    if dialect == "sqlite" and selection.unixepoch_available():  # `selection.kept_candidates`' decay, to the bit
        rate = math.log(2.0) / (3600.0 * float(half_life_hours))
        decay = func.exp((func.unixepoch(engagement.c.hour) - literal(selection.epoch(now))) * literal(rate))
    weight = case(*((engagement.c.kind == kind, w) for kind, w in weights.items()), else_=0.0)
    is_view = engagement.c.kind == "view"
    first = since.replace(minute=0, second=0, microsecond=0)
    query = (
        select(engagement.c.article_id,
               func.sum(engagement.c.count * weight * decay),
               func.sum(case((is_view & (engagement.c.hour >= recent_since), engagement.c.count), else_=0)),
               func.sum(case((is_view & (engagement.c.hour >= baseline_since) & (engagement.c.hour < recent_since),
                              engagement.c.count), else_=0)))
        .where(engagement.c.hour >= first, engagement.c.hour < now)
        .group_by(engagement.c.article_id))
    return [(a, float(e or 0), int(r or 0), int(b or 0)) for a, e, r, b in session.connection().execute(query)]

