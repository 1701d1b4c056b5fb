"""Trending signals (the `trendingsignal` table): headlines pages listed as trending, linked to the stored article of
the same title, and those seen in a window.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select

from digest.models import Article, TrendingSignal


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
