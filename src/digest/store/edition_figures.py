"""What one edition carried and how it was read (tables `delivery`, `deliveryitem`, `countedclick`, `article`):
its deliveries per status and content variant, and per story, section and position how many deliveries carried
it, how many of those were sent, and how many clicks they got.

The figures never read the edition's delivery items one by one (8 per delivery: 8,000,000 rows at a million
readers). They rest on what the send path rests on too (`pipeline.compose.batch_context`): every delivery of
one content variant carries the same items, at the same sections and positions (the variant key is a hash of
them, `select.variant_key`). So an edition's figures are:
  - its deliveries counted per variant in the index `ix_delivery_edition_variant` (edition_id, variant_key),
    no table row read (below: a loose index scan), less those not sent, read by status;
  - the items of one delivery per variant (an index seek each);
  - its clicks, each mapped to its delivery's variant (one pass over the edition's range of delivery ids in
    the `countedclick` index, one delivery row read per click).
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import func, select, text
from sqlmodel import Session

from digest.models import Article, CountedClick, DeliveryItem, DeliveryStatus
from digest.store.deliveries import DELIVERY
from digest.store.engine import _chunks

ITEM = DeliveryItem.__table__
CLICK = CountedClick.__table__
ARTICLE = Article.__table__


# The edition's distinct variant keys walked in ix_delivery_edition_variant, one seek each (a loose index scan:
# `min(variant_key) ... > the previous one`), and each variant counted over its range of index entries: half the
# time of a GROUP BY over a million entries, which compares every entry's keys.
VARIANT_TOTALS = text(
    "WITH RECURSIVE v(key) AS (SELECT min(variant_key) FROM delivery WHERE edition_id = :edition "
    "UNION ALL SELECT (SELECT min(d.variant_key) FROM delivery AS d WHERE d.edition_id = :edition "
    "AND d.variant_key > v.key) FROM v WHERE v.key IS NOT NULL) "
    "SELECT key, (SELECT count(*) FROM delivery WHERE edition_id = :edition AND variant_key = v.key) FROM v "
    "WHERE key IS NOT NULL UNION ALL "
    "SELECT NULL, (SELECT count(*) FROM delivery WHERE edition_id = :edition AND variant_key IS NULL)")
NOT_SENT = tuple(s for s in DeliveryStatus if s != DeliveryStatus.sent)


def status_variants(session: Session, *, edition_id: int) -> list[tuple[str, str | None, int]]:
    """(status, variant key, deliveries) of the edition, by status then variant (None: no variant, e.g.
    skipped, first): `status_reasons`' first half."""
    return status_reasons(session, edition_id=edition_id)[0]


def status_reasons(session: Session, *, edition_id: int, limit: int = 5
                   ) -> tuple[list[tuple[str, str | None, int]], list[tuple[str, int | None, str, int]]]:
    """The edition's (status, variant key, deliveries) rows, as `status_variants`, and its failure reasons, as
    `delivery_status.failure_reasons` finds them, from one read of the deliveries not sent. Each variant's
    deliveries come from ix_delivery_edition_variant alone; those not sent (few once an edition is out; while
    it is sending, those still queued) are read row by row from the status index, grouped by status, variant,
    SMTP code and error, and the sent ones are the rest."""
    totals = dict(session.connection().execute(VARIANT_TOTALS, {"edition": edition_id}).all())
    query = (select(DELIVERY.c.status, DELIVERY.c.variant_key, DELIVERY.c.smtp_code, DELIVERY.c.error, func.count())
             .where(DELIVERY.c.edition_id == edition_id, DELIVERY.c.status.in_(NOT_SENT))
             .group_by(DELIVERY.c.status, DELIVERY.c.variant_key, DELIVERY.c.smtp_code, DELIVERY.c.error))
    groups: dict[tuple[str, str | None], int] = defaultdict(int)
    reasons: dict[tuple[str, int | None, str | None], int] = defaultdict(int)
    unsent: dict[str | None, int] = defaultdict(int)
    for status, key, code, error, n in session.connection().execute(query):
        groups[str(status), key] += n
        reasons[str(status), code, error] += n
        unsent[key] += n
    found = [(status, key, n) for (status, key), n in groups.items()]
    found += [(str(DeliveryStatus.sent), key, total - unsent[key]) for key, total in totals.items()
              if total - unsent[key] > 0]
    return (sorted(found, key=lambda row: (row[0], row[1] is not None, row[1] or "")),
            _top(reasons, skipped=False, limit=limit) + _top(reasons, skipped=True, limit=limit))


def _top(reasons: dict[tuple[str, int | None, str | None], int], *, skipped: bool, limit: int) -> list[tuple]:
    """The `limit` most common (status, code, error, n) among the skipped ones (or the others), ties by error
    (none first, as SQLite orders them)."""
    rows = [(*reason, n) for reason, n in reasons.items() if (reason[0] == DeliveryStatus.skipped) == skipped]
    rows.sort(key=lambda r: (-r[3], r[2] is not None, r[2] or "", r[0], r[1] if r[1] is not None else -1))
    return [(status, code, error or "", n) for status, code, error, n in rows[:limit]]


def _representatives(session: Session, edition_id: int, keys: Sequence[str]) -> dict[str, int]:
    """{variant key: the id of one of its deliveries}, one index seek per variant, in one statement per 400
    variants. Its text is written out: building hundreds of SQLAlchemy subqueries costs more (about 0.3 ms
    each) than running them."""
    found: dict[str, int] = {}
    for chunk in _chunks(list(keys), 400):
        one = ("SELECT * FROM (SELECT variant_key, id FROM delivery WHERE edition_id = :edition "
               "AND variant_key = :v{n} LIMIT 1) AS r{n}")
        query = text(" UNION ALL ".join(one.format(n=n) for n in range(len(chunk))))
        values = {"edition": edition_id, **{f"v{n}": key for n, key in enumerate(chunk)}}
        found.update((key, i) for key, i in session.connection().execute(query, values))
    return found


def _edition_range(edition_id: int) -> tuple:
    """The edition's first and last delivery ids, as two scalar subqueries (two index seeks: one query of
    min(id) and max(id) together walks every one of its entries in SQLite)."""
    ids = select(DELIVERY.c.id).where(DELIVERY.c.edition_id == edition_id)
    return (ids.order_by(DELIVERY.c.id).limit(1).scalar_subquery(),
            ids.order_by(DELIVERY.c.id.desc()).limit(1).scalar_subquery())


def variant_clicks(session: Session, *, edition_id: int) -> dict[tuple[str | None, int], int]:
    """{(variant key, article id): counted clicks} of the edition's deliveries. The clicks are found in the
    edition's range of delivery ids (its first and last: two index seeks), each joined to its delivery by id;
    `edition_id + 0` keeps SQLite from walking the edition's deliveries instead (a million, to find the few
    that were clicked)."""
    first, last = _edition_range(edition_id)
    query = (select(DELIVERY.c.variant_key, CLICK.c.article_id, func.count())
             .select_from(CLICK.join(DELIVERY, DELIVERY.c.id == CLICK.c.delivery_id))
             .where(CLICK.c.delivery_id.between(first, last), (DELIVERY.c.edition_id + 0) == edition_id)
             .group_by(DELIVERY.c.variant_key, CLICK.c.article_id))
    return {(key, article): n for key, article, n in session.connection().execute(query)}


# {engine: {edition id: (signature, variant_clicks' result)}}: see cached_clicks.
_CLICKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def click_signature(session: Session, *, edition_id: int) -> tuple[int, int | None]:
    """(count, max id) of the clicks in the edition's range of delivery ids: from the click index alone
    (72,000 entries in about 3 ms, against the join's one delivery row per click)."""
    first, last = _edition_range(edition_id)
    query = select(func.count(), func.max(CLICK.c.id)).where(CLICK.c.delivery_id.between(first, last))
    count, top = session.connection().execute(query).one()
    return count, top


def cached_clicks(session: Session, *, edition_id: int, deliveries: int) -> dict[tuple[str | None, int], int]:
    """`variant_clicks`, kept per engine and edition and reused while its signature is the same: the edition's
    `deliveries` (the caller counted them) and `click_signature`. A click counted (clicks are only added, one
    per delivery and article), a delivery planned or deleted (a reader erased, an edition pruned) each change
    it; a delivery's variant never changes once planned. When only clicks were added since (while an edition
    is being read, nearly every request: the same deliveries, more clicks), those alone are read and added to
    the kept figures (`_added`). A full read is kept only when the signature read again after it is unchanged:
    the two reads are two statements, and a click committed between them would otherwise be in the figures and
    not in the signature, so that the next request would add it a second time."""
    signature = (deliveries, *click_signature(session, edition_id=edition_id))
    cache = _CLICKS.setdefault(session.get_bind(), {})
    found = cache.get(edition_id)
    if found is not None and found[0] != signature:
        found = _added(session, edition_id, found, signature)
    if found is None:
        clicks = variant_clicks(session, edition_id=edition_id)
        if (deliveries, *click_signature(session, edition_id=edition_id)) != signature:
            return clicks  # a click landed between the reads (each statement its own snapshot): not kept
        found = (signature, clicks)
    cache[edition_id] = found
    return found[1]


def _added(session: Session, edition_id: int, kept: tuple, signature: tuple) -> tuple | None:
    """The kept (signature, clicks) with the clicks above its highest id added, when they are all that changed:
    the same deliveries, and the kept count plus those clicks (of any edition, in its range of delivery ids)
    is the new signature's, their highest id its. Else None: read them all again (a click deleted, one
    committed late with a lower id). One statement reads them (walked by id from the kept highest:
    `delivery_id + 0`, not over the range's every click), each with its delivery when it is the edition's, so
    that the clicks added and the counts they are checked against are one snapshot."""
    (deliveries, count, top), clicks = kept
    if signature[0] != deliveries or top is None or signature[1] <= count:
        return None
    first, last = _edition_range(edition_id)
    ours = (DELIVERY.c.id == CLICK.c.delivery_id) & ((DELIVERY.c.edition_id + 0) == edition_id)
    query = (select(DELIVERY.c.id.is_(None), DELIVERY.c.variant_key, CLICK.c.article_id, func.count(),
                    func.max(CLICK.c.id))
             .select_from(CLICK.outerjoin(DELIVERY, ours))
             .where(CLICK.c.id > top, (CLICK.c.delivery_id + 0).between(first, last))
             .group_by(DELIVERY.c.id.is_(None), DELIVERY.c.variant_key, CLICK.c.article_id))
    merged, added, highest = dict(clicks), 0, top
    for other, key, article, n, most in session.connection().execute(query):
        added, highest = added + n, max(highest, most)
        if not other:
            merged[key, article] = merged.get((key, article), 0) + n
    return (signature, merged) if (count + added, highest) == signature[1:] else None


def item_figures(session: Session, *, edition_id: int,
                 groups: Sequence[tuple[str, str | None, int]] | None = None) -> list[tuple]:
    """Per (article, section, position) of the edition's delivery items: (article id, section, position,
    deliveries that carried it, of them sent, their clicks, the id of one of those items), ordered by
    section, position, article. `groups` are `status_variants`' rows when the caller has them already."""
    groups = status_variants(session, edition_id=edition_id) if groups is None else groups
    carried: dict[str, int] = defaultdict(int)
    sent: dict[str, int] = defaultdict(int)
    for status, key, n in groups:
        if key is not None:
            carried[key] += n
            sent[key] += n if status == DeliveryStatus.sent else 0
    delivery_of = _representatives(session, edition_id, list(carried))
    items = _items_of(session, list(delivery_of.values()))
    deliveries = sum(n for _, _, n in groups)
    clicks = cached_clicks(session, edition_id=edition_id, deliveries=deliveries) if delivery_of else {}
    figures: dict[tuple, list[int]] = {}
    for key, delivery_id in delivery_of.items():
        for item_id, article, section, position in items.get(delivery_id, ()):
            row = figures.setdefault((article, section, position), [0, 0, 0, item_id])
            row[0] += carried[key]
            row[1] += sent[key]
            row[2] += clicks.get((key, article), 0)
            row[3] = min(row[3], item_id)
    return [(a, s, p, *figures[a, s, p]) for a, s, p in sorted(figures, key=lambda f: (f[1], f[2], f[0]))]


def _items_of(session: Session, delivery_ids: list[int]) -> dict[int, list[tuple[int, int, str, int]]]:
    """{delivery id: [(item id, article id, section, position)]} of the given deliveries."""
    found: dict[int, list] = defaultdict(list)
    for chunk in _chunks(delivery_ids, 500):
        query = select(ITEM.c.delivery_id, ITEM.c.id, ITEM.c.article_id, ITEM.c.section, ITEM.c.position).where(
            ITEM.c.delivery_id.in_(chunk))
        for delivery_id, *item in session.connection().execute(query):
            found[delivery_id].append(tuple(item))
    return found


def variant_counts(groups: Sequence[tuple[str, str | None, int]]) -> list[tuple[str | None, int]]:
    """(variant key, deliveries) from `status_variants`' rows, the biggest first (None: no variant)."""
    totals: dict[str | None, int] = defaultdict(int)
    for _, key, n in groups:
        totals[key] += n
    return sorted(totals.items(), key=lambda kv: (-kv[1], kv[0] is not None, kv[0] or ""))


def item_details(session: Session, *, item_ids: list[int]) -> dict[int, tuple[str, dict]]:
    """{item id: (its article's title, its `why`)} of the given delivery items."""
    query = (select(ITEM.c.id, ARTICLE.c.title, ITEM.c.why).join(ARTICLE, ARTICLE.c.id == ITEM.c.article_id)
             .where(ITEM.c.id.in_(item_ids)))
    return {i: (title, why or {}) for i, title, why in session.connection().execute(query)} if item_ids else {}
