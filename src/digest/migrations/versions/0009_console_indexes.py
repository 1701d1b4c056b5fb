"""delivery: ix_delivery_edition_status (edition_id, status, variant_key, created_at), for the console's pages

An edition's deliveries counted per status and per content variant, its failure reasons' rows and its oldest
pending delivery are read from this index alone, without a table row each: the edition page and the overview
at a million deliveries (benchmarks/console.py). Idempotent like 0005: a store made from the models
(`create_all`) has the index already.

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

INDEX = 'ix_delivery_edition_status'
COLUMNS = ['edition_id', 'status', 'variant_key', 'created_at']


def _has_index() -> bool:
    return INDEX in {i['name'] for i in sa.inspect(op.get_bind()).get_indexes('delivery')}


def upgrade() -> None:
    if not _has_index():
        op.create_index(INDEX, 'delivery', COLUMNS, unique=False)


def downgrade() -> None:
    if _has_index():
        op.drop_index(INDEX, table_name='delivery')
