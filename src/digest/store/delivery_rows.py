"""Planning's bulk insert (tables `delivery` and `deliveryitem`): an edition's delivery rows and their items, a
page of readers at a time, in a few statements per page; re-exported as `store.deliveries.add_deliveries`.

An edition plans about ten item rows per reader, so the item insert is most of planning's writes: on SQLite one
executemany of positional rows straight to the driver; on PostgreSQL one COPY (psycopg's `copy`), which the
server takes as one stream instead of a statement per row (5,000 readers, 50,000 items: about 1.1 s by
executemany under cProfile). The deliveries go in the same way (one COPY on PostgreSQL, one Core executemany on
SQLite, where RETURNING would be one statement per row), and their ids are read back by (edition, subscriber):
on PostgreSQL as the page's one range of the unique index.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert
from sqlmodel import Session, select

from digest.models import Delivery, DeliveryItem
from digest.store.engine import _chunks

DELIVERY = Delivery.__table__
DELIVERY_COLUMNS = ("edition_id", "subscriber_id", "status", "attempts", "variant_key", "error", "created_at",
                    "updated_at")
ITEM_COLUMNS = ("delivery_id", "article_id", "story_key", "section", "position", "score", "why")


def add_deliveries(session: Session, *, edition_id: int, planned: Sequence[tuple], now: datetime) -> int:
    """Insert many deliveries and their items, a few statements per thousand readers. `planned` holds
    (subscriber_id, status, variant_key, error, items), items as dicts of DeliveryItem fields (`why` a dict, or
    its JSON text already); readers sharing a selection may share one items list (converted once)."""
    if not planned:
        return 0
    conn = session.connection()
    rows = [{"edition_id": edition_id, "subscriber_id": sub_id, "status": status, "attempts": 0,
             "variant_key": vkey, "error": error, "created_at": now, "updated_at": now}
            for sub_id, status, vkey, error, _ in planned]
    if conn.dialect.name == "postgresql":  # one COPY, the ids read back by one range of the unique index
        _copy(conn, DELIVERY.name, DELIVERY_COLUMNS, [tuple(r[c] for c in DELIVERY_COLUMNS) for r in rows])
        ids = _delivery_id_range(conn, edition_id, [p[0] for p in planned])
    else:  # no RETURNING: SQLite would insert the rows one statement each
        conn.execute(insert(DELIVERY), rows)
        ids = _delivery_ids(conn, edition_id, [p[0] for p in planned])
    _insert_items(conn, [(ids[sub_id], items) for sub_id, *_, items in planned if items])
    return len(planned)


def _delivery_ids(conn, edition_id: int, subscriber_ids: list[int]) -> dict[int, int]:
    """subscriber id → the id of their delivery of this edition (one per subscriber: a unique constraint)."""
    found: dict[int, int] = {}
    for chunk in _chunks(subscriber_ids, 500):
        found.update((sub_id, i) for sub_id, i in conn.execute(select(DELIVERY.c.subscriber_id, DELIVERY.c.id).where(
            DELIVERY.c.edition_id == edition_id, DELIVERY.c.subscriber_id.in_(chunk))))
    return found


def _delivery_id_range(conn, edition_id: int, subscriber_ids: list[int]) -> dict[int, int]:
    """As `_delivery_ids`, read as the one range (lowest to highest subscriber id) of the edition's unique index."""
    wanted = set(subscriber_ids)
    query = select(DELIVERY.c.subscriber_id, DELIVERY.c.id).where(
        DELIVERY.c.edition_id == edition_id, DELIVERY.c.subscriber_id.between(min(wanted), max(wanted)))
    return {sub_id: i for sub_id, i in conn.execute(query) if sub_id in wanted}


def _insert_items(conn, planned: list[tuple[int, list[dict]]]) -> None:
    """The item rows of `planned` ((delivery id, items) pairs), with no per-row parameter processing by
    SQLAlchemy (it was most of planning, and of a dry run). Each distinct items list is converted (its `why`
    dumped) once, however many deliveries carry it."""
    if not planned:
        return
    rows = _item_rows(planned)
    if conn.dialect.name == "postgresql":
        _copy(conn, DeliveryItem.__tablename__, ITEM_COLUMNS, rows)
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (f"INSERT INTO {DeliveryItem.__tablename__} ({', '.join(ITEM_COLUMNS)}) "
           f"VALUES ({', '.join([mark] * len(ITEM_COLUMNS))})")
    conn.exec_driver_sql(sql, rows)


def _item_rows(planned: list[tuple[int, list[dict]]]) -> list[tuple]:
    tails: dict[int, list[tuple]] = {}  # id(items) → rows without the delivery id; the lists live meanwhile
    rows = []
    for delivery_id, items in planned:
        if (tail := tails.get(id(items))) is None:
            tail = tails[id(items)] = [(i["article_id"], i.get("story_key", ""), i["section"], i["position"],
                                        i.get("score", 0.0), _why(i.get("why"))) for i in items]
        rows.extend((delivery_id, *t) for t in tail)
    return rows


def _copy(conn, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
    """COPY … FROM STDIN on the session's own psycopg connection (so inside its transaction)."""
    raw = conn.connection.dbapi_connection
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _why(why) -> str:
    return why if isinstance(why, str) else json.dumps(why or {})
