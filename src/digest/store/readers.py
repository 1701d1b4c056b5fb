"""The console's view of the readers (`subscriber`, `subscription`, `delivery`, `edition`): one page of readers
found by address prefix, status and newsletter, keyset-paginated by id, and one reader's deliveries.

The search is a prefix match on the stored (normalised, lower-case) address: `email LIKE 'q%'` (the wildcards
of `q` escaped) bounded by the range `q <= email < q'` (q' = q with its last character's successor), which the
unique index on `email` serves; the range is exact under a code-point-order collation (SQLite's BINARY,
PostgreSQL's C and C.UTF-8). Pages walk `id > after ORDER BY id LIMIT n` (no OFFSET, never every row).
"""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, select

from digest.models import Delivery, Edition, Subscriber, Subscription, SubscriptionStatus


def _escaped(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _starts_with(prefix: str) -> tuple:
    """`email LIKE 'prefix%'`, and the range [prefix, prefix with its last character's successor) that lets the
    planner use the email index (LIKE alone does not, under most PostgreSQL collations)."""
    conditions = [Subscriber.email.like(_escaped(prefix) + "%", escape="\\"), Subscriber.email >= prefix]
    following = ord(prefix[-1]) + 1
    following = 0xE000 if 0xD800 <= following < 0xE000 else following  # no surrogates
    if following <= 0x10FFFF:
        conditions.append(Subscriber.email < prefix[:-1] + chr(following))
    return tuple(conditions)


def reader_page(session: Session, *, prefix: str = "", status: str | None = None, newsletter: str | None = None,
                after: int = 0, size: int = 50) -> list[Subscriber]:
    """Up to `size` readers with id > `after`, by id, whose address starts with `prefix` (lower-cased)."""
    query = select(Subscriber).where(Subscriber.id > after)
    prefix = prefix.strip().lower()
    if prefix:
        query = query.where(*_starts_with(prefix))
    if status:
        query = query.where(Subscriber.status == status)
    if newsletter:
        active = select(Subscription.subscriber_id).where(
            Subscription.subscriber_id == Subscriber.id, Subscription.newsletter == newsletter,
            Subscription.status == SubscriptionStatus.active)
        query = query.where(active.exists())
    return list(session.exec(query.order_by(Subscriber.id).limit(size)))


def reader_deliveries(session: Session, *, subscriber_id: int, limit: int = 100) -> tuple[list[tuple], int]:
    """The reader's last `limit` deliveries, newest first, as (edition key, Delivery), and how many there are."""
    rows = session.exec(select(Edition.key, Delivery).join(Edition, Edition.id == Delivery.edition_id)
                        .where(Delivery.subscriber_id == subscriber_id)
                        .order_by(Delivery.id.desc()).limit(limit)).all()
    total = session.exec(select(func.count()).select_from(Delivery)
                         .where(Delivery.subscriber_id == subscriber_id)).one()
    return [tuple(row) for row in rows], int(total)
