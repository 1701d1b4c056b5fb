"""Small builders for tests: articles, subscribers and events straight into the store."""

from __future__ import annotations

from datetime import datetime, timedelta

from digest import store
from digest.ingest.normalize import content_hash
from digest.models import Article, ArticleRecord, EngagementRecord, Subscriber, SubscriberRecord

TOPICS = ["politics", "business", "sport", "science", "technology"]
COUNTRIES = ["United States", "Germany", "Japan", "Brazil", "Kenya"]


def article(i: int, published: datetime, **kw) -> Article:
    fields = dict(url=f"https://news.example.com/a/{i}", guid=f"g{i}", title=kw.pop("title", f"Story number {i}"),
                  summary=kw.pop("summary", f"Summary of story {i}."), body=f"Body {i}.",
                  source=kw.pop("source", f"Outlet {i % 3}"), country=kw.pop("country", COUNTRIES[i % 5]),
                  topics=kw.pop("topics", [TOPICS[i % 5]]), published_at=published, **kw)
    return Article(**fields, updated_at=published, content_hash=content_hash({k: str(v) for k, v in fields.items()}))


def record(i: int, published: datetime, **kw) -> ArticleRecord:
    return ArticleRecord(id=i, url=f"https://news.example.com/a/{i}", title=kw.pop("title", f"Story {i}"),
                         summary=kw.pop("summary", f"Summary {i}"), source=kw.pop("source", f"Outlet {i % 3}"),
                         published_at=published, **kw)


def views(article_id: int, hour: datetime, count: int, kind: str = "view") -> EngagementRecord:
    return EngagementRecord(article_id, hour, kind, count)


def subscriber(email: str, **kw) -> Subscriber:
    return Subscriber(email=email, **kw)


def sub_record(i: int = 1, **kw) -> SubscriberRecord:
    return SubscriberRecord(id=i, email=kw.pop("email", f"s{i}@example.com"), **kw)


def seed(engine, now: datetime, *, articles: int = 12, subscribers: int = 5, **sub_kw) -> None:
    """`articles` articles over the 30 hours before `now`, `subscribers` daily subscribers with no filters."""
    with store.session_scope(engine) as session:
        store.articles.upsert_articles(session, articles=[article(i, now - timedelta(hours=1 + i * 2.5))
                                                 for i in range(1, articles + 1)], now=now)
        store.subscribers.upsert_subscribers(session, subscribers=[subscriber(f"reader{i}@example.com", name=f"Reader {i}", **sub_kw)
                                                       for i in range(1, subscribers + 1)], now=now)


def send_day(engine, settings, clock=None, day=None, **kw):
    """run_day over a real SmtpMailer for the editions of `day` (default NOW's date), closing the pool afterwards."""
    import asyncio

    from digest.pipeline import run_day
    from digest.send import SmtpMailer
    from tests.conftest import NOW

    async def go():
        mailer = SmtpMailer(settings.smtp, local_hostname="news.example.com")
        try:
            return await run_day(engine, settings, mailer, day or NOW.date(), clock=clock or (lambda: NOW), **kw)
        finally:
            await mailer.close()
    return asyncio.run(go())


def edition_counts(engine, key: str = "digest:2026-11-27") -> dict[str, int]:
    with store.read_session(engine) as session:
        return store.delivery_status.edition_counts(session, edition_id=store.editions.find_edition(session, key=key).id)
