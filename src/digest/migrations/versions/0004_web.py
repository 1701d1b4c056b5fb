"""web: the `confirmation` queue (double opt-in emails) and `countedclick` (one click per delivery and article)

Idempotent like 0002: opening a store read-write already creates new tables.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 19:40:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

from digest.models import UTCDateTime

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def _has(table: str) -> bool:
    return sa.inspect(op.get_bind()).has_table(table)


def upgrade() -> None:
    if not _has('confirmation'):
        op.create_table('confirmation',
                        sa.Column('id', sa.Integer(), nullable=False),
                        sa.Column('subscriber_id', sa.Integer(), nullable=False),
                        sa.Column('email', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
                        sa.Column('status', sa.Enum('queued', 'sending', 'sent', 'failed',
                                                    name='confirmationstatus'), nullable=False),
                        sa.Column('attempts', sa.Integer(), nullable=False),
                        sa.Column('smtp_code', sa.Integer(), nullable=True),
                        sa.Column('smtp_reply', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
                        sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
                        sa.Column('created_at', UTCDateTime(), nullable=False),
                        sa.Column('updated_at', UTCDateTime(), nullable=False),
                        sa.Column('sent_at', UTCDateTime(), nullable=True),
                        sa.PrimaryKeyConstraint('id'))
        for column in ('subscriber_id', 'email', 'status', 'created_at'):
            op.create_index(f'ix_confirmation_{column}', 'confirmation', [column], unique=False)
    if not _has('countedclick'):
        op.create_table('countedclick',
                        sa.Column('id', sa.Integer(), nullable=False),
                        sa.Column('delivery_id', sa.Integer(), nullable=False),
                        sa.Column('article_id', sa.Integer(), nullable=False),
                        sa.Column('clicked_at', UTCDateTime(), nullable=False),
                        sa.PrimaryKeyConstraint('id'),
                        sa.UniqueConstraint('delivery_id', 'article_id'))
        op.create_index('ix_countedclick_delivery_id', 'countedclick', ['delivery_id'], unique=False)


def downgrade() -> None:
    op.drop_table('countedclick')
    op.drop_table('confirmation')
    sa.Enum(name='confirmationstatus').drop(op.get_bind(), checkfirst=True)
