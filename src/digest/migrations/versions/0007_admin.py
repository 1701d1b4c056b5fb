"""admin: the operator's console accounts (`adminuser`: email, role, argon2 password hash, login times)

Idempotent like 0004: opening a store read-write already creates new tables.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 05:40:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

from digest.models import UTCDateTime

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table('adminuser'):
        return
    op.create_table('adminuser',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
                    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
                    sa.Column('password_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
                    sa.Column('created_at', UTCDateTime(), nullable=False),
                    sa.Column('updated_at', UTCDateTime(), nullable=False),
                    sa.Column('last_login_at', UTCDateTime(), nullable=True),
                    sa.PrimaryKeyConstraint('id'),
                    sqlite_autoincrement=True)
    op.create_index('ix_adminuser_email', 'adminuser', ['email'], unique=True)


def downgrade() -> None:
    op.drop_index('ix_adminuser_email', table_name='adminuser')
    op.drop_table('adminuser')
