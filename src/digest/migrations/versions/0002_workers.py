"""workers: `delivery.claimed_by` (which worker job claimed a row) and the shared `ratelimit` table

Both are written to be idempotent: opening a store read-write already creates new tables and adds new
nullable columns, so either may exist before this revision runs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 03:40:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def _has(table: str, column: str | None = None) -> bool:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table(table):
        return False
    return column is None or column in {c["name"] for c in inspector.get_columns(table)}


def upgrade() -> None:
    if not _has('delivery', 'claimed_by'):
        with op.batch_alter_table('delivery', schema=None) as batch_op:
            batch_op.add_column(sa.Column('claimed_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    if not _has('ratelimit'):
        op.create_table('ratelimit',
                        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
                        sa.Column('rate', sa.Float(), nullable=False),
                        sa.Column('target', sa.Float(), nullable=False),
                        sa.Column('next_slot', sa.Float(), nullable=False),
                        sa.PrimaryKeyConstraint('name'))


def downgrade() -> None:
    op.drop_table('ratelimit')
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_column('claimed_by')
