"""What one edition carried and how it was read (tables `delivery`, `deliveryitem`, `countedclick`, `article`):
its variants, and per story, section and position how many deliveries carried it, how many of those were sent,
and how many clicks they got. Every figure is a GROUP BY in SQL: the console's edition page never loops over
deliveries in Python.
"""

from __future__ import annotations

from sqlalchemy import and_, case, func, select
from sqlmodel import Session

from digest.models import Article, CountedClick, DeliveryItem, DeliveryStatus
from digest.store.deliveries import DELIVERY

ITEM = DeliveryItem.__table__
CLICK = CountedClick.__table__
ARTICLE = Article.__table__


def variant_counts(session: Session, *, edition_id: int) -> list[tuple[str | None, int]]:
    """(variant key, deliveries) of the edition, the biggest first (None: no variant)."""
    query = (select(DELIVERY.c.variant_key, func.count()).where(DELIVERY.c.edition_id == edition_id)
             .group_by(DELIVERY.c.variant_key).order_by(func.count().desc(), DELIVERY.c.variant_key))
    return [(key, n) for key, n in session.connection().execute(query)]


def item_figures(session: Session, *, edition_id: int) -> list[tuple]:
    """Per (article, section, position) of the edition's delivery items: (article id, section, position,
    deliveries that carried it, of them sent, their clicks, the first item's id). Two GROUP BYs: the items'
    (one pass over the edition's items), the clicks' (one over its clicks, each finding its item by the unique
    (delivery, article) index)."""
    columns = (ITEM.c.article_id, ITEM.c.section, ITEM.c.position)
    sent = func.sum(case((DELIVERY.c.status == DeliveryStatus.sent, 1), else_=0))
    items = (select(*columns, func.count(), sent, func.min(ITEM.c.id))
             .select_from(ITEM.join(DELIVERY, DELIVERY.c.id == ITEM.c.delivery_id))
             .where(DELIVERY.c.edition_id == edition_id).group_by(*columns)
             .order_by(ITEM.c.section, ITEM.c.position, ITEM.c.article_id))
    clicks = (select(*columns, func.count())
              .select_from(CLICK.join(DELIVERY, DELIVERY.c.id == CLICK.c.delivery_id)
                           .join(ITEM, and_(ITEM.c.delivery_id == CLICK.c.delivery_id,
                                            ITEM.c.article_id == CLICK.c.article_id)))
              .where(DELIVERY.c.edition_id == edition_id).group_by(*columns))
    connection = session.connection()
    clicked = {(a, s, p): n for a, s, p, n in connection.execute(clicks)}
    return [(a, s, p, carried, int(n_sent or 0), clicked.get((a, s, p), 0), first)
            for a, s, p, carried, n_sent, first in connection.execute(items)]


def item_details(session: Session, *, item_ids: list[int]) -> dict[int, tuple[str, dict]]:
    """{item id: (its article's title, its `why`)} of the given delivery items."""
    query = (select(ITEM.c.id, ARTICLE.c.title, ITEM.c.why).join(ARTICLE, ARTICLE.c.id == ITEM.c.article_id)
             .where(ITEM.c.id.in_(item_ids)))
    return {i: (title, why or {}) for i, title, why in session.connection().execute(query)} if item_ids else {}
