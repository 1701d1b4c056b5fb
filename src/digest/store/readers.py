"""The console's view of the readers (`subscriber`, `subscription`, `delivery`, `edition`): one page of readers
found by address prefix, status, newsletter, topic and country, keyset-paginated by id; and one reader's
record: deliveries a page at a time (newest first, keyset by delivery id) with their items, counted clicks,
bounces, confirmation emails and suppression record; and the operator's resend of one delivery.

The search is a prefix match on the stored (normalised, lower-case) address: `email LIKE 'q%'` (the wildcards
of `q` escaped) bounded by the range `q <= email < q'` (q' = q with its last character's successor), which the
unique index on `email` serves; the range is exact under a code-point-order collation (SQLite's BINARY,
PostgreSQL's C and C.UTF-8). Pages walk `id > after ORDER BY id LIMIT n` (no OFFSET, never every row).

Topic and country are elements of the reader's own JSON lists (`subscriber.topics`, `subscriber.countries`),
in any case the database's lower() folds (SQLite's: ASCII letters only). No index serves them without a schema
change (a GIN index on PostgreSQL, a side table on SQLite), so each row's test is made cheap: a LIKE on the
list's stored text for the element as JSON writes it (`%"sports"%`, lower-cased on both sides) rules out
nearly every row without parsing it, and only the rows it lets through are parsed and compared element by
element (`json_each` on SQLite, `json_array_elements_text` on PostgreSQL), so "sports" never matches "sport"
nor an element that only contains it. Without an address prefix, such a search walks the ids a window at a
time and stops at the page's last row: a common topic reads one window, a rare one reads the table once (a
text scan, no JSON parsing).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import String, cast, func, literal, update
from sqlmodel import Session, select

from digest.models import (
    Article, Confirmation, CountedClick, Delivery, DeliveryItem, DeliveryStatus, Edition, Subscriber, Subscription,
    SubscriptionStatus, Suppression, address_hash,
)

WINDOW = 20_000  # ids a filtered search reads per statement (see _by_windows)


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


def _holds(session: Session, column, value: str) -> tuple:
    """`value` (any case) is an element of the JSON list `column`: the cheap text test, then the exact one."""
    value = value.strip()
    conditions = []
    if value.isascii():  # json.dumps escapes other characters (\u00e9): their case cannot be folded in the text
        pattern = "%" + _escaped(json.dumps(value.lower())) + "%"
        conditions.append(func.lower(cast(column, String)).like(pattern, escape="\\"))
    if session.get_bind().dialect.name == "postgresql":
        elements = func.json_array_elements_text(column).table_valued("value").render_derived()
    else:
        elements = func.json_each(column).table_valued("value")
    conditions.append(select(literal(1)).select_from(elements)
                      .where(func.lower(elements.c.value) == func.lower(literal(value))).exists())
    return tuple(conditions)


def reader_page(session: Session, *, prefix: str = "", status: str | None = None, newsletter: str | None = None,
                topic: str | None = None, country: str | None = None, after: int = 0, size: int = 50
                ) -> list[Subscriber]:
    """Up to `size` readers with id > `after`, by id, whose address starts with `prefix` (lower-cased), of
    `status`, actively subscribed to `newsletter`, with `topic` and `country` among their own preferences."""
    query = select(Subscriber)
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
    listed = [(column, value.strip()) for column, value in ((Subscriber.topics, topic), (Subscriber.countries, country))
              if value and value.strip()]
    for column, value in listed:
        query = query.where(*_holds(session, column, value))
    if listed and not prefix:
        return _by_windows(session, query, after, size)
    return list(session.exec(query.where(Subscriber.id > after).order_by(Subscriber.id).limit(size)))


def _by_windows(session: Session, query, after: int, size: int) -> list[Subscriber]:
    """The page, read WINDOW ids at a time. PostgreSQL's planner cannot estimate the list tests: it guesses a
    few matches, so it scans the whole table and sorts (0.6 s at 1,000,000 readers, however common the topic)
    instead of walking the ids and stopping at the page's last row. A window of ids is an index range either
    way, so a common topic reads one window and a rare one the table once."""
    last = session.exec(select(func.max(Subscriber.id))).one() or 0
    found: list[Subscriber] = []
    start = after
    while len(found) < size and start < last:
        end = start + WINDOW
        found += session.exec(query.where(Subscriber.id > start, Subscriber.id <= end)
                              .order_by(Subscriber.id).limit(size - len(found)))
        start = end
    return found


def reader_deliveries(session: Session, *, subscriber_id: int, limit: int = 100, before: int | None = None
                      ) -> tuple[list[tuple], int]:
    """The reader's `limit` deliveries with id < `before` (None: the newest), newest first, as (edition key,
    edition date, Delivery), and how many deliveries the reader has in all."""
    query = (select(Edition.key, Edition.date, Delivery).join(Edition, Edition.id == Delivery.edition_id)
             .where(Delivery.subscriber_id == subscriber_id))
    if before is not None:
        query = query.where(Delivery.id < before)
    rows = session.exec(query.order_by(Delivery.id.desc()).limit(limit)).all()
    total = session.exec(select(func.count()).select_from(Delivery)
                         .where(Delivery.subscriber_id == subscriber_id)).one()
    return [tuple(row) for row in rows], int(total)


def delivered_items(session: Session, *, delivery_ids: Sequence[int]) -> list[tuple]:
    """(delivery id, section, position, score, why, article id, title, url) of each item of those deliveries,
    by delivery and position (the title and URL None if the article is gone)."""
    if not delivery_ids:
        return []
    query = (select(DeliveryItem.delivery_id, DeliveryItem.section, DeliveryItem.position, DeliveryItem.score,
                    DeliveryItem.why, DeliveryItem.article_id, Article.title, Article.url)
             .join(Article, Article.id == DeliveryItem.article_id, isouter=True)
             .where(DeliveryItem.delivery_id.in_(list(delivery_ids)))
             .order_by(DeliveryItem.delivery_id, DeliveryItem.position))
    return [tuple(row) for row in session.exec(query)]


def delivery_clicks(session: Session, *, delivery_ids: Sequence[int]) -> dict[tuple[int, int], datetime]:
    """(delivery id, article id) → when it was clicked, of the counted clicks on those deliveries."""
    if not delivery_ids:
        return {}
    query = (select(CountedClick.delivery_id, CountedClick.article_id, CountedClick.clicked_at)
             .where(CountedClick.delivery_id.in_(list(delivery_ids))))
    return {(d, a): at for d, a, at in session.exec(query)}


def reader_clicks(session: Session, *, subscriber_id: int, limit: int = 200) -> list[tuple]:
    """(delivery id, edition key, article id, title, url, clicked at) of the reader's counted clicks (one per
    delivery and article), newest first."""
    query = (select(CountedClick.delivery_id, Edition.key, CountedClick.article_id, Article.title, Article.url,
                    CountedClick.clicked_at)
             .join(Delivery, Delivery.id == CountedClick.delivery_id)
             .join(Edition, Edition.id == Delivery.edition_id)
             .join(Article, Article.id == CountedClick.article_id, isouter=True)
             .where(Delivery.subscriber_id == subscriber_id)
             .order_by(CountedClick.clicked_at.desc(), CountedClick.id.desc()).limit(limit))
    return [tuple(row) for row in session.exec(query)]


def reader_bounces(session: Session, *, subscriber_id: int, limit: int = 100) -> list[tuple]:
    """(edition key, Delivery) of the reader's bounced deliveries, newest first (a bounce is a delivery's
    status, its SMTP code and reply, and the time it was recorded: `updated_at`)."""
    query = (select(Edition.key, Delivery).join(Edition, Edition.id == Delivery.edition_id)
             .where(Delivery.subscriber_id == subscriber_id, Delivery.status == DeliveryStatus.bounced)
             .order_by(Delivery.id.desc()).limit(limit))
    return [tuple(row) for row in session.exec(query)]


def reader_confirmations(session: Session, *, subscriber_id: int) -> list[Confirmation]:
    """The double opt-in emails sent to the reader, oldest first."""
    return list(session.exec(select(Confirmation).where(Confirmation.subscriber_id == subscriber_id)
                             .order_by(Confirmation.id)))


def suppression_of(session: Session, *, email: str) -> Suppression | None:
    """The suppression record kept under the address's hash, if any."""
    return session.get(Suppression, address_hash(email))


def resend_delivery(session: Session, *, delivery_id: int, was: str, note: str, now: datetime) -> bool:
    """An operator's resend: the delivery, still in status `was`, back to `queued` with `note` as its error
    (the send path then builds and sends it again); False if it has moved on since it was read."""
    result = session.exec(update(Delivery).where(Delivery.id == delivery_id, Delivery.status == was).values(
        status=DeliveryStatus.queued, error=note[:500], next_attempt_at=None, claimed_by=None, updated_at=now))
    return bool(result.rowcount)
