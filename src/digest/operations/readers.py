"""The console's readers: search them (address prefix, status, newsletter, topic, country; pages by id), one
reader's record (`operations.reader_record`), and the admin's actions on them: suppress, reactivate, erase (the
very `erase_subscriber` that `digest subscribers erase` runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

from digest import store
from digest.errors import InputError
from digest.config import Settings
from digest.models import SubscriberStatus
from digest.operations import subscribers as subscriber_ops
from digest.operations.reader_record import READER_FIELDS, ReaderDetail, fields, reader_detail
from digest.store import readers as reader_store

PAGE_SIZE = 50
SUPPRESSIBLE = (SubscriberStatus.active, SubscriberStatus.pending, SubscriberStatus.bounced)
REACTIVATABLE = (SubscriberStatus.unsubscribed, SubscriberStatus.bounced)
STATUSES = tuple(str(s) for s in SubscriberStatus)
__all__ = ["PAGE_SIZE", "STATUSES", "ReaderDetail", "ReaderPage", "reader_detail", "search_readers",
           "suppress_reader", "reactivate_reader", "erase_reader"]


@dataclass(frozen=True)
class ReaderPage:
    """One page of readers (dicts of READER_FIELDS) and the `after` of the next page (None: the last page)."""

    readers: list[dict]
    next_after: int | None

    def doc(self) -> dict:
        return {"readers": self.readers, "next_after": self.next_after}


def search_readers(engine: Engine, *, q: str = "", status: str = "", newsletter: str = "", topic: str = "",
                   country: str = "", after: int = 0, size: int | None = None) -> ReaderPage:
    """Readers whose address starts with `q` (any case), of `status`, actively subscribed to `newsletter`, with
    `topic` among their topics and `country` among their countries (the reader's own lists, any case)."""
    if status and status not in STATUSES:
        raise InputError(f"status: unknown status {status!r} (one of {', '.join(STATUSES)})")
    size = size or PAGE_SIZE
    with store.read_session(engine) as session:
        rows = reader_store.reader_page(session, prefix=q, status=status or None, newsletter=newsletter or None,
                                        topic=topic or None, country=country or None, after=max(after, 0),
                                        size=size + 1)
        found = [fields(row, READER_FIELDS) for row in rows[:size]]
    return ReaderPage(found, found[-1]["id"] if len(rows) > size else None)


def _move(engine: Engine, subscriber_id: int, status: SubscriberStatus, only_from, now: datetime) -> tuple[bool, str]:
    with store.session_scope(engine) as session:
        sub = store.subscribers.subscriber_by_id(session, subscriber_id=subscriber_id)
        if sub is None:
            raise InputError(f"no reader has id {subscriber_id}")
        before = str(sub.status)
        changed = store.subscribers.set_subscriber_status(session, subscriber_id=subscriber_id, status=status,
                                                          now=now, only_from=only_from)
        if changed and status == SubscriberStatus.unsubscribed:
            store.webhooks.emit_subscriber(session, type="subscriber.unsubscribed", subscriber_id=subscriber_id,
                                           now=now, newsletter=None, source="console")
    return changed, before


def suppress_reader(engine: Engine, subscriber_id: int, *, now: datetime) -> str:
    """Active, pending or bounced → unsubscribed (no edition is sent to them); a one-line result."""
    changed, before = _move(engine, subscriber_id, SubscriberStatus.unsubscribed, SUPPRESSIBLE, now)
    if changed:
        return f"reader {subscriber_id} suppressed ({before} → unsubscribed)"
    return f"reader {subscriber_id} not changed: {before} cannot be suppressed further"


def reactivate_reader(engine: Engine, subscriber_id: int, *, now: datetime) -> str:
    """Unsubscribed or bounced → active; never from removed or complained (nor pending: their own opt-in)."""
    changed, before = _move(engine, subscriber_id, SubscriberStatus.active, REACTIVATABLE, now)
    if changed:
        return f"reader {subscriber_id} reactivated ({before} → active)"
    return f"reader {subscriber_id} not changed: only unsubscribed or bounced readers can be reactivated ({before})"


def erase_reader(settings: Settings, engine: Engine, subscriber_id: int, typed: str, *, now: datetime) -> str:
    """Forget the reader (`digest subscribers erase`), once their address has been typed again."""
    with store.read_session(engine) as session:
        sub = store.subscribers.subscriber_by_id(session, subscriber_id=subscriber_id)
        email = sub.email if sub is not None else None
    if email is None:
        raise InputError(f"no reader has id {subscriber_id}")
    if typed.strip().lower() != email:
        raise InputError("confirm: type the reader's address again to erase them")
    done = subscriber_ops.erase_subscriber(settings, email, now=now, engine=engine)
    return f"erased {done.email} and {max(done.deliveries, 0)} deliveries"
