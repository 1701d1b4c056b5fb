"""delivery: ix_delivery_edition_status (edition_id, status, variant_key, created_at), for the console's pages

An edition's deliveries counted per status and per content variant, its failure reasons' rows and its oldest
pending delivery are read from this index alone, without a table row each: the edition page and the overview
at a million deliveries (benchmarks/console.py). Idempotent like 0005: a store made from the models
(`create_all`) has the index already.

Its cost is on the send path: every status change moves the delivery's entry, and entries of consecutive
deliveries lie apart (ordered by variant within a status), so a batch's commit writes more pages. Raw SQLite,
200,000 deliveries over 200 variants moved queued -> sending -> sent in batches of 50: 2.1 s without it,
14.6 s with it (an index on (edition_id, status, created_at) alone costs nothing measurable).

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
