"""identity: one subscriber per normalised address, ids never reused, a per-subscriber token key, suppressions

* Case-duplicates (`alice@example.org`, `ALICE@Example.org`) merge into one subscriber: the oldest keeps its id;
  every delivery and item of the others is re-pointed to it; where two of them have a delivery of the same
  edition, the one that (may have) reached the reader is kept, with the other's items, so nothing is re-sent.
  The merged status is the most restrictive one (complained, bounced, unsubscribed, then active, pending).
  Every address is stored in its normalised form (email-validator: IDN domain in ASCII, lower case).
* SQLite: `subscriber` and `delivery` are rebuilt with AUTOINCREMENT (a removed id is never handed out again).
* `subscriber.token_key`: a random key mixed into every link and VERP token. On SQLite every subscriber gets one
  (ids may already have been reused: the links made before stop working). On PostgreSQL (sequence ids, never
  reused) existing subscribers keep NULL, so the links already in their inboxes keep working.
* `subscriberstatus` gains `removed`; the `suppression` table (hash of the normalised address, reason).

Idempotent like 0002: opening a store read-write may already have created the table and the column.
What it merged is reported (logged, and printed by `digest db upgrade`).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 19:30:00
"""

import logging
import secrets
from collections import defaultdict

import sqlalchemy as sa
import sqlmodel
from alembic import context, op

import digest.models

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

log = logging.getLogger("digest.migrations")
STATUS_RANK = ("complained", "bounced", "unsubscribed", "active", "pending")  # the merged status: first found
KEEP_RANK = ("sent", "unknown", "sending", "bounced", "deferred", "queued", "failed", "skipped", "expired")

STATUS = sa.Enum('active', 'pending', 'unsubscribed', 'bounced', 'complained', 'removed', name='subscriberstatus')
subscriber = sa.table('subscriber', sa.column('id', sa.Integer), sa.column('email', sa.String),
                      sa.column('status', STATUS), sa.column('consent_at', digest.models.UTCDateTime()),
                      sa.column('consent_source', sa.String), sa.column('token_key', sa.String))
delivery = sa.table('delivery', sa.column('id', sa.Integer), sa.column('edition_id', sa.Integer),
                    sa.column('subscriber_id', sa.Integer), sa.column('status', sa.String))
item = sa.table('deliveryitem', sa.column('id', sa.Integer), sa.column('delivery_id', sa.Integer),
                sa.column('article_id', sa.Integer))


def _report(line: str) -> None:
    log.info(line)
    report = context.config.attributes.get("report")
    if report is not None:
        report(line)


def _has(table: str, column: str | None = None) -> bool:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table(table):
        return False
    return column is None or column in {c["name"] for c in inspector.get_columns(table)}


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _normalized(email: str) -> str:
    from digest.ingest.subscribers import normalize_email

    try:
        return normalize_email(email)
    except ValueError:
        return email.strip().lower()  # stored before validation was this strict: still one form per person


def upgrade() -> None:
    if not _has('subscriber', 'token_key'):
        with op.batch_alter_table('subscriber', schema=None) as batch_op:
            batch_op.add_column(sa.Column('token_key', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    if not _sqlite():
        op.execute("ALTER TYPE subscriberstatus ADD VALUE IF NOT EXISTS 'removed'")
    if not _has('suppression'):
        op.create_table('suppression',
                        sa.Column('email_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
                        sa.Column('reason', sa.Enum('unsubscribed', 'bounced', 'complained', 'removed', 'erased',
                                                    name='suppressionreason'), nullable=False),
                        sa.Column('created_at', digest.models.UTCDateTime(), nullable=False),
                        sa.Column('updated_at', digest.models.UTCDateTime(), nullable=False),
                        sa.PrimaryKeyConstraint('email_hash'))
    merge_duplicates(op.get_bind())
    if _sqlite():
        for table in ('subscriber', 'delivery'):
            _autoincrement(table)
        conn = op.get_bind()
        ids = conn.execute(sa.select(subscriber.c.id).where(subscriber.c.token_key.is_(None))).scalars().all()
        if ids:
            conn.execute(subscriber.update().where(subscriber.c.id == sa.bindparam('b_id'))
                         .values(token_key=sa.bindparam('b_key')),
                         [{'b_id': i, 'b_key': secrets.token_urlsafe(16)} for i in ids])


def _autoincrement(table: str) -> None:
    sql = op.get_bind().execute(sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :n"),
                                {"n": table}).scalar() or ""
    if "AUTOINCREMENT" not in sql.upper():
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": True}):
            pass


def merge_duplicates(conn) -> None:
    """One subscriber per normalised address; every address in its normalised form."""
    groups = defaultdict(list)
    for row in conn.execute(sa.select(subscriber.c.id, subscriber.c.email, subscriber.c.status,
                                      subscriber.c.consent_at, subscriber.c.consent_source)
                            .order_by(subscriber.c.id)).all():
        groups[_normalized(row.email)].append(row)
    merged, renamed = 0, []
    for address, rows in groups.items():
        if len(rows) == 1:
            if rows[0].email != address:
                renamed.append({'b_id': rows[0].id, 'b_email': address})
            continue
        keeper, others = rows[0], rows[1:]
        moved = sum(_merge_into(conn, keeper.id, other.id) for other in others)
        conn.execute(subscriber.delete().where(subscriber.c.id.in_([o.id for o in others])))
        status = next(s for s in STATUS_RANK + (str(keeper.status),) if s in {str(r.status) for r in rows})
        consent = next(((r.consent_at, r.consent_source) for r in rows if r.consent_at is not None),
                       (keeper.consent_at, keeper.consent_source))
        conn.execute(subscriber.update().where(subscriber.c.id == keeper.id).values(
            email=address, status=status, consent_at=consent[0], consent_source=consent[1]))
        merged += len(others)
        _report(f"merged subscribers {', '.join(str(o.id) for o in others)} "
                f"({', '.join(o.email for o in others)}) into {keeper.id} ({address}, {status}): "
                f"{moved} deliveries re-pointed")
    if renamed:  # one statement for them all: a store of 100,000 readers upgrades in seconds
        conn.execute(subscriber.update().where(subscriber.c.id == sa.bindparam('b_id'))
                     .values(email=sa.bindparam('b_email')), renamed)
    _report(f"identity: {merged} case-duplicate subscribers merged" if merged else
            "identity: no case-duplicate subscribers")


def _merge_into(conn, keeper_id: int, other_id: int) -> int:
    """Re-point `other_id`'s deliveries to `keeper_id`; one delivery per edition survives. Returns how many moved."""
    kept = {r.edition_id: r for r in conn.execute(sa.select(delivery).where(delivery.c.subscriber_id == keeper_id))}
    moved = 0
    for mine in conn.execute(sa.select(delivery).where(delivery.c.subscriber_id == other_id)).all():
        theirs = kept.get(mine.edition_id)
        if theirs is None:
            conn.execute(delivery.update().where(delivery.c.id == mine.id).values(subscriber_id=keeper_id))
            kept[mine.edition_id] = mine
            moved += 1
            continue
        keep, drop = sorted((theirs, mine), key=lambda d: (_rank(d.status), d.id))
        _move_items(conn, drop.id, keep.id)
        conn.execute(delivery.delete().where(delivery.c.id == drop.id))
        if keep.id == mine.id:
            conn.execute(delivery.update().where(delivery.c.id == mine.id).values(subscriber_id=keeper_id))
            moved += 1
        kept[mine.edition_id] = keep
        _report(f"edition {mine.edition_id}: deliveries {theirs.id} ({theirs.status}) and {mine.id} ({mine.status}) "
                f"of one reader: kept {keep.id}")
    return moved


def _rank(status) -> int:
    return KEEP_RANK.index(str(status)) if str(status) in KEEP_RANK else len(KEEP_RANK)


def _move_items(conn, from_id: int, to_id: int) -> None:
    present = set(conn.execute(sa.select(item.c.article_id).where(item.c.delivery_id == to_id)).scalars())
    for row in conn.execute(sa.select(item).where(item.c.delivery_id == from_id)).all():
        if row.article_id in present:
            conn.execute(item.delete().where(item.c.id == row.id))
        else:
            conn.execute(item.update().where(item.c.id == row.id).values(delivery_id=to_id))
            present.add(row.article_id)


def downgrade() -> None:
    op.drop_table('suppression')
    with op.batch_alter_table('subscriber', schema=None) as batch_op:
        batch_op.drop_column('token_key')
