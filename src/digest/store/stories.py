"""Story assignments (the `storyassignment` table): which story each article belongs to, read and saved.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, select

from digest.models import StoryAssignment
from digest.store.engine import _chunks


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


def story_known(session: Session, *, key: str) -> bool:
    """Whether some article was stored as belonging to the story `key` (an edition with it was planned)."""
    return session.exec(select(StoryAssignment.article_id).where(StoryAssignment.story_key == key).limit(1)
                        ).first() is not None
