"""Articles (the `article` table): upserting them one at a time or as plain rows in bulk, finding them by URL or id,
listing them, the candidate records of an edition, and the topics and countries a reader can choose from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, insert, literal, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from digest.models import Article, ArticleRecord, StoryAssignment, article_record
from digest.store.engine import _chunks


ARTICLE = Article.__table__

ARTICLE_FIELDS = ("guid", "title", "summary", "body", "source", "author", "location", "country", "topics",
                  "image_url", "published_at")

RECORD_COLUMNS = ("id", "url", "title", "summary", "source", "published_at", "location", "country", "topics",
                  "image_url")


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


_RECORD_COLUMNS = [Article.__table__.c[name] for name in ("id", "url", "title", "summary", "source", "published_at",
                                                           "location", "country", "topics", "image_url", "body")]


def articles_by_id(session: Session, *, ids: Iterable[int]) -> dict[int, ArticleRecord]:
    """The records of the articles `ids` (rows of a record's columns, not ORM objects: an edition loads thousands)."""
    found: dict[int, ArticleRecord] = {}
    connection = session.connection()
    query = sa_select(*_RECORD_COLUMNS)
    for chunk in _chunks(sorted(set(ids)), 500):
        found.update({a.id: article_record(a) for a in connection.execute(query.where(Article.__table__.c.id.in_(chunk)))})
    return found


def list_articles(session: Session, *, since: datetime | None = None) -> list[Article]:
    query = select(Article).order_by(Article.published_at.desc(), Article.id)
    if since is not None:
        query = query.where(Article.published_at >= since)
    return list(session.exec(query))


def candidate_articles(session: Session, *, start: datetime, end: datetime) -> list[ArticleRecord]:
    """Articles published in [start, end), as records (Core: 100,000 rows in a fraction of a second)."""
    body = func.substr(ARTICLE.c.body, 1, 4000).label("body")  # the lead is all the records need
    query = (select(*(ARTICLE.c[name] for name in RECORD_COLUMNS), body)
             .where(ARTICLE.c.published_at >= start, ARTICLE.c.published_at < end).order_by(ARTICLE.c.id))
    return [article_record(row) for row in session.connection().execute(query)]


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


def candidate_rows(session: Session, *, start: datetime, end: datetime, titles: bool = False) -> list[tuple]:
    """The few columns ranking needs of every article published in [start, end), with its stored story key
    ("" if none): (id, source, country, topics, published_at, story key[, title]). No text is read."""
    connection = session.connection()
    columns = [ARTICLE.c.id, ARTICLE.c.source, ARTICLE.c.country, ARTICLE.c.topics, ARTICLE.c.published_at]
    source = ARTICLE
    if connection.dialect.has_table(connection, StoryAssignment.__tablename__):
        assigned = StoryAssignment.__table__
        source = ARTICLE.outerjoin(assigned, assigned.c.article_id == ARTICLE.c.id)
        columns.append(func.coalesce(assigned.c.story_key, ""))
    else:
        columns.append(literal(""))  # a read-only store created before stories existed
    if titles:
        columns.append(ARTICLE.c.title)
    query = (select(*columns).select_from(source)
             .where(ARTICLE.c.published_at >= start, ARTICLE.c.published_at < end))
    return [tuple(row) for row in connection.execute(query)]


def candidate_titles(session: Session, *, start: datetime, end: datetime) -> list[tuple[int, str]]:
    """(id, title) of every article published in [start, end): to match sources' trending headlines."""
    query = select(ARTICLE.c.id, ARTICLE.c.title).where(ARTICLE.c.published_at >= start, ARTICLE.c.published_at < end)
    return [tuple(row) for row in session.connection().execute(query)]
