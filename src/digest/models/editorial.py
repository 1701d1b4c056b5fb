"""An editor's steering of one edition, as a log: every pin, exclusion, note and approval is a row that is never
changed (who, when, what). The edition's controls are the log folded in order (`digest.editorial`); the log is
also the record the console and `digest editions show` print. Rows name the edition by its key, so an editor
can steer an edition before it exists (before its send time nothing of it is in the store).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from digest.models.types import utc_field


class EditorialAction(StrEnum):
    pin = "pin"  # an article's story first in a section (article_id, section)
    unpin = "unpin"
    exclude = "exclude"  # an article (article_id) or a whole story (story_key) left out
    include = "include"  # an exclusion undone
    note = "note"  # the editor's note (text; empty: none)
    approve = "approve"
    unapprove = "unapprove"


class EditorialChange(SQLModel, table=True):
    __table_args__ = {"sqlite_autoincrement": True}
    id: int | None = Field(default=None, primary_key=True)
    edition_key: str = Field(index=True)  # "morning:2026-12-02"
    newsletter: str
    actor: str  # "editor@example.com" (the console) or "cli:USER"
    at: datetime = utc_field()
    action: str  # an EditorialAction (a plain string: no enum type to migrate when one is added)
    article_id: int | None = None
    story_key: str | None = None
    section: str | None = None  # "top" | "trending", for a pin
    text: str | None = None  # the note's Markdown
