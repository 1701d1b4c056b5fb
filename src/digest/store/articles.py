"""Articles and their engagement: upserting articles (one at a time or as plain rows in bulk), candidate records
for an edition, hourly engagement buckets and the signals aggregated from them, and trending signals.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import BigInteger, Float, case, cast, column, func, insert, update, values
from sqlmodel import Session, select

from digest.models import UTCDateTime, Article, ArticleRecord, Engagement, article_record
from digest.models import TrendingSignal
from digest.store.engine import _chunks


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


# ── trending signals, and article rows in bulk (moved from "feeds and trending signals") ────────────

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
