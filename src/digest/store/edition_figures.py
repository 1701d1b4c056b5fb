"""What one edition carried and how it was read (tables `delivery`, `deliveryitem`, `countedclick`, `article`):
its variants, and per story, position and section how many deliveries carried it, how many of those were sent,
and how many clicks they got. Every figure is a GROUP BY in SQL, so the console's edition page costs a few
index scans at a million deliveries, never a loop over them.
"""

from __future__ import annotations

from sqlalchemy import and_, case, func, select
from sqlmodel import Session

from digest.models import Article, CountedClick, DeliveryItem, DeliveryStatus
from digest.store.deliveries import DELIVERY

ITEM = DeliveryItem.__table__
CLICK = CountedClick.__table__
ARTICLE = Article.__table__
GROUPS = {"story": (ITEM.c.article_id, ITEM.c.section, ITEM.c.position), "position": (ITEM.c.position,),
          "section": (ITEM.c.section,)}
ORDER = {"story": (ITEM.c.section, ITEM.c.position, ITEM.c.article_id)}


def variant_counts(session: Session, *, edition_id: int) -> list[tuple[str | None, int]]:
    """(variant key, deliveries) of the edition, the biggest first (None: no variant)."""
    query = (select(DELIVERY.c.variant_key, func.count()).where(DELIVERY.c.edition_id == edition_id)
             .group_by(DELIVERY.c.variant_key).order_by(func.count().desc(), DELIVERY.c.variant_key))
    return [(key, n) for key, n in session.connection().execute(query)]


def item_figures(session: Session, *, edition_id: int, by: str) -> list[tuple]:
    """Per group of the edition's delivery items (`by`: "story" = article, section, position; "position";
    "section"): (*group, deliveries that carried it, of them sent, clicks, the first item's id)."""
    columns = GROUPS[by]
    sent = func.sum(case((DELIVERY.c.status == DeliveryStatus.sent, 1), else_=0))
    query = (select(*columns, func.count(), sent, func.count(CLICK.c.id), func.min(ITEM.c.id))
             .select_from(ITEM.join(DELIVERY, DELIVERY.c.id == ITEM.c.delivery_id)
                          .outerjoin(CLICK, and_(CLICK.c.delivery_id == ITEM.c.delivery_id,
                                                 CLICK.c.article_id == ITEM.c.article_id)))
             .where(DELIVERY.c.edition_id == edition_id).group_by(*columns).order_by(*ORDER.get(by, columns)))
    return [tuple(row[:-4]) + (row[-4], int(row[-3] or 0), row[-2], row[-1])
            for row in session.connection().execute(query)]


def item_details(session: Session, *, item_ids: list[int]) -> dict[int, tuple[str, dict]]:
    """{item id: (its article's title, its `why`)} of the given delivery items."""
    query = (select(ITEM.c.id, ARTICLE.c.title, ITEM.c.why).join(ARTICLE, ARTICLE.c.id == ITEM.c.article_id)
             .where(ITEM.c.id.in_(item_ids)))
    return {i: (title, why or {}) for i, title, why in session.connection().execute(query)} if item_ids else {}
