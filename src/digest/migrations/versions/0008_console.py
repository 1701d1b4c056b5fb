"""console: `editorialchange` (an editor's log: pins, exclusions, notes, approvals), `edition.held`
("awaiting_approval" or "paused") and `feed.paused_at`

Idempotent like 0004: opening a store read-write already creates new tables and appends nullable columns.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 17:20:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

from digest.models import UTCDateTime

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def _columns(table: str) -> set[str]:
    return {c['name'] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    if 'held' not in _columns('edition'):
        op.add_column('edition', sa.Column('held', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    if 'paused_at' not in _columns('feed'):
        op.add_column('feed', sa.Column('paused_at', UTCDateTime(), nullable=True))
    if sa.inspect(op.get_bind()).has_table('editorialchange'):
        return
    op.create_table('editorialchange',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('edition_key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
                    sa.Column('newsletter', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
                    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
                    sa.Column('at', UTCDateTime(), nullable=False),
                    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
                    sa.Column('article_id', sa.Integer(), nullable=True),
                    sa.Column('story_key', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
                    sa.Column('section', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
                    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
                    sa.PrimaryKeyConstraint('id'),
                    sqlite_autoincrement=True)
    op.create_index('ix_editorialchange_edition_key', 'editorialchange', ['edition_key'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_editorialchange_edition_key', table_name='editorialchange')
    op.drop_table('editorialchange')
    with op.batch_alter_table('feed') as batch_op:
        batch_op.drop_column('paused_at')
    with op.batch_alter_table('edition') as batch_op:
        batch_op.drop_column('held')
