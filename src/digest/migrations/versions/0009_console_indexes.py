"""delivery: ix_delivery_edition_status (edition_id, status, created_at) and ix_delivery_edition_variant
(edition_id, variant_key); subscription: (newsletter, status, updated_at) and (newsletter, created_at): the
console's pages (an edition's figures, a newsletter's list size over the charts' days); subscriber: (status,
updated_at), the readers who complained lately

An edition's deliveries counted per status, its failure reasons' rows and its oldest pending delivery are read
from the first index alone; its deliveries per content variant from the second. Idempotent like 0005: a store
made from the models (`create_all`) has them already.

The variant is not in the status index on purpose: every status change moves a delivery's entries in the
indexes holding `status`, and entries ordered by variant within a status lie apart, so a batch's commit would
write many pages. Raw SQLite, 200,000 deliveries over 200 variants moved queued -> sending -> sent in batches of
50: 1.31 s with neither, 10.36 s with (edition_id, status, variant_key, created_at), 2.81 s with
(edition_id, status, created_at), 2.95 s with both of these (/tmp/ixbench.py in the commit message).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 17:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

INDEXES = {'ix_delivery_edition_status': ('delivery', ['edition_id', 'status', 'created_at']),
           'ix_delivery_edition_variant': ('delivery', ['edition_id', 'variant_key']),
           'ix_subscription_newsletter_status': ('subscription', ['newsletter', 'status', 'updated_at']),
           'ix_subscription_newsletter_created': ('subscription', ['newsletter', 'created_at']),
           'ix_subscriber_status_updated': ('subscriber', ['status', 'updated_at'])}


def _indexes(table: str) -> set[str]:
    return {i['name'] for i in sa.inspect(op.get_bind()).get_indexes(table)}


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        if name not in _indexes(table):
            op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, (table, _) in INDEXES.items():
        if name in _indexes(table):
            op.drop_index(name, table_name=table)
