"""deliveryitem: drop ix_deliveryitem_delivery_id, which UNIQUE(delivery_id, article_id) makes redundant

Every lookup by delivery_id is served by the unique index's prefix; the extra b-tree only cost planning
(ten item rows per reader, each written to every index). Idempotent like 0004: a store made from the
models (`create_all`) never had the index.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 04:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

INDEX = 'ix_deliveryitem_delivery_id'


def _has_index() -> bool:
    return INDEX in {i['name'] for i in sa.inspect(op.get_bind()).get_indexes('deliveryitem')}


def upgrade() -> None:
    if _has_index():
        op.drop_index(INDEX, table_name='deliveryitem')


def downgrade() -> None:
    if not _has_index():
        op.create_index(INDEX, 'deliveryitem', ['delivery_id'], unique=False)
