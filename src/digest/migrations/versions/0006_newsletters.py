"""newsletters: subscriptions per newsletter, editions keyed by their newsletter

* `subscription` (subscriber, newsletter, own status, preferences that override the reader's where set).
  Every subscriber gets one to the default newsletter (the first of `[[newsletters]]`, or `digest` for an
  install without them: `digest db upgrade` passes its key), `unsubscribed` if the reader was, else `active`;
  their preferences stay the reader's own, so nobody's digest changes.
* `edition.newsletter`; the editions made before are the default newsletter's, their keys renamed
  `daily:D` → `KEY:D` and `weekly:D` → `KEY:weekly:D`. Every delivery stays on its edition row, so "never
  twice" holds across the upgrade: nothing is re-sent.

Idempotent like 0002: opening a store read-write may already have created the (empty) `subscription` table.
What it moved is reported (logged, and printed by `digest db upgrade`).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 05:00:00
"""

import logging

import sqlalchemy as sa
import sqlmodel
from alembic import context, op

from digest.models import UTCDateTime

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

log = logging.getLogger("digest.migrations")
edition = sa.table('edition', sa.column('id', sa.Integer), sa.column('key', sa.String),
                   sa.column('newsletter', sa.String))


def _report(line: str) -> None:
    log.info(line)
    report = context.config.attributes.get("report")
    if report is not None:
        report(line)


def _inspector():
    return sa.inspect(op.get_bind())


def _enum(name: str, *values: str, exists: bool):
    if op.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ENUM

        return ENUM(*values, name=name, create_type=not exists)
    return sa.Enum(*values, name=name)


def upgrade() -> None:
    key = context.config.attributes.get("newsletter") or "digest"
    if not _inspector().has_table('subscription'):
        _create_subscription()
    if 'newsletter' not in {c['name'] for c in _inspector().get_columns('edition')}:
        op.add_column('edition', sa.Column('newsletter', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    renamed = _rename_editions(key)
    with op.batch_alter_table('edition') as batch:
        batch.alter_column('newsletter', existing_type=sqlmodel.sql.sqltypes.AutoString(), nullable=False)
    if 'ix_edition_newsletter' not in {i['name'] for i in _inspector().get_indexes('edition')}:
        op.create_index('ix_edition_newsletter', 'edition', ['newsletter'], unique=False)
    added = _subscribe_everyone(key)
    _report(f"0006: {added} subscribers subscribed to newsletter {key!r}; {renamed} editions are now its own")


def _create_subscription() -> None:
    op.create_table(
        'subscription',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('subscriber_id', sa.Integer(), nullable=False),
        sa.Column('newsletter', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('status', _enum('subscriptionstatus', 'active', 'unsubscribed', exists=False), nullable=False),
        sa.Column('frequency', _enum('frequency', 'daily', 'weekly', exists=True), nullable=True),
        sa.Column('weekday', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('send_at', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('topics', sa.JSON(), nullable=True),
        sa.Column('countries', sa.JSON(), nullable=True),
        sa.Column('max_items', sa.Integer(), nullable=True),
        sa.Column('format', _enum('format', 'html', 'text', exists=True), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.Column('source', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(['subscriber_id'], ['subscriber.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('subscriber_id', 'newsletter'))
    op.create_index('ix_subscription_subscriber_id', 'subscription', ['subscriber_id'], unique=False)
    op.create_index('ix_subscription_newsletter', 'subscription', ['newsletter'], unique=False)


def _rename_editions(key: str) -> int:
    """The editions without a newsletter become the default one's: daily:D → KEY:D, weekly:D → KEY:weekly:D."""
    conn = op.get_bind()
    rows = conn.execute(sa.select(edition.c.id, edition.c.key).where(edition.c.newsletter.is_(None))).all()
    for edition_id, old in rows:
        period, _, day = old.partition(":")
        new = f"{key}:weekly:{day}" if period == "weekly" else f"{key}:{day}" if period == "daily" else old
        conn.execute(edition.update().where(edition.c.id == edition_id).values(key=new, newsletter=key))
    return len(rows)


def _subscribe_everyone(key: str) -> int:
    """One subscription to `key` for every subscriber without one, in one statement."""
    conn = op.get_bind()
    result = conn.execute(sa.text(
        "INSERT INTO subscription (subscriber_id, newsletter, status, created_at, updated_at, source) "
        "SELECT s.id, CAST(:key AS VARCHAR), CASE WHEN s.status = 'unsubscribed' THEN 'unsubscribed' ELSE 'active' END"
        + ("::subscriptionstatus" if conn.dialect.name == "postgresql" else "")
        + ", s.created_at, s.updated_at, 'migration 0006' FROM subscriber s "
        "WHERE NOT EXISTS (SELECT 1 FROM subscription x WHERE x.subscriber_id = s.id AND x.newsletter = CAST(:key AS VARCHAR))"),
        {"key": key})
    return result.rowcount


def downgrade() -> None:
    op.drop_index('ix_edition_newsletter', table_name='edition')
    with op.batch_alter_table('edition') as batch:
        batch.drop_column('newsletter')
    op.drop_table('subscription')
    if op.get_bind().dialect.name == "postgresql":
        sa.Enum(name='subscriptionstatus').drop(op.get_bind(), checkfirst=True)
