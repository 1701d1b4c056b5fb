"""The editors' log (`editorialchange`): append a change, read an edition's changes in order."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from digest.models import EditorialChange


def add_change(session: Session, *, edition_key: str, newsletter: str, actor: str, now: datetime, action: str,
               article_id: int | None = None, story_key: str | None = None, section: str | None = None,
               text: str | None = None) -> EditorialChange:
    change = EditorialChange(edition_key=edition_key, newsletter=newsletter, actor=actor, at=now, action=action,
                             article_id=article_id, story_key=story_key, section=section, text=text)
    session.add(change)
    session.flush()
    return change


def changes(session: Session, *, edition_key: str) -> list[EditorialChange]:
    """The edition's changes, oldest first."""
    return list(session.exec(select(EditorialChange).where(EditorialChange.edition_key == edition_key)
                             .order_by(EditorialChange.id)))
