"""deliveryitem: drop ix_deliveryitem_article_id and ix_deliveryitem_story_key, which no query reads

Every read of deliveryitem goes by delivery_id (the unique index's prefix, 0005): a reader's history, a
delivery's items and links, the console's per-variant items, erasure and expiry. Nothing filters or joins by
an item's article or story key, and articles are never deleted (no foreign-key check needs the article index).
The two b-trees were most of planning's item inserts: ten item rows per reader, each written to every index,
keyed on values scattered across the tree (200,000 item rows: 6.8 s with them, 1.4 s without, raw sqlite3).
Idempotent like 0005: a store made from the models (`create_all`) never had them.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 18:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

TABLE = 'deliveryitem'
INDEXES = {'ix_deliveryitem_article_id': ['article_id'], 'ix_deliveryitem_story_key': ['story_key']}


def _indexes() -> set[str]:
    return {i['name'] for i in sa.inspect(op.get_bind()).get_indexes(TABLE)}


def upgrade() -> None:
    present = _indexes()
    for name in INDEXES:
        if name in present:
            op.drop_index(name, table_name=TABLE)


def downgrade() -> None:
    present = _indexes()
    for name, columns in INDEXES.items():
        if name not in present:
            op.create_index(name, TABLE, columns, unique=False)
