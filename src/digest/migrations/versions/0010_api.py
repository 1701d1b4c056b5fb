"""api: the REST API's keys (`apikey`), the stored answers of idempotent POSTs (`apirequest`) and its import
jobs (`apiimport`)

Idempotent like 0007: opening a store read-write already creates new tables, so each is created only if missing.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 18:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

from digest.models import UTCDateTime

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

TEXT = sqlmodel.sql.sqltypes.AutoString


def _missing(table: str) -> bool:
    return not sa.inspect(op.get_bind()).has_table(table)


def upgrade() -> None:
    if _missing('apikey'):
        op.create_table('apikey',
                        sa.Column('id', sa.Integer(), nullable=False),
                        sa.Column('name', TEXT(), nullable=False),
                        sa.Column('key_hash', TEXT(), nullable=False),
                        sa.Column('scopes', TEXT(), nullable=False),
                        sa.Column('created_at', UTCDateTime(), nullable=False),
                        sa.Column('last_used_at', UTCDateTime(), nullable=True),
                        sa.Column('revoked_at', UTCDateTime(), nullable=True),
                        sa.PrimaryKeyConstraint('id'),
                        sqlite_autoincrement=True)
        op.create_index('ix_apikey_name', 'apikey', ['name'], unique=True)
        op.create_index('ix_apikey_key_hash', 'apikey', ['key_hash'], unique=True)
    if _missing('apirequest'):
        op.create_table('apirequest',
                        sa.Column('id', sa.Integer(), nullable=False),
                        sa.Column('api_key_id', sa.Integer(), nullable=False),
                        sa.Column('key_hash', TEXT(), nullable=False),
                        sa.Column('request_hash', TEXT(), nullable=False),
                        sa.Column('status_code', sa.Integer(), nullable=False),
                        sa.Column('body', TEXT(), nullable=False),
                        sa.Column('created_at', UTCDateTime(), nullable=False),
                        sa.PrimaryKeyConstraint('id'),
                        sa.UniqueConstraint('api_key_id', 'key_hash'))
        op.create_index('ix_apirequest_api_key_id', 'apirequest', ['api_key_id'], unique=False)
    if _missing('apiimport'):
        op.create_table('apiimport',
                        sa.Column('id', sa.Integer(), nullable=False),
                        sa.Column('api_key_id', sa.Integer(), nullable=False),
                        sa.Column('status', TEXT(), nullable=False),
                        sa.Column('total', sa.Integer(), nullable=True),
                        sa.Column('counts', sa.JSON(), nullable=True),
                        sa.Column('error', TEXT(), nullable=True),
                        sa.Column('created_at', UTCDateTime(), nullable=False),
                        sa.Column('updated_at', UTCDateTime(), nullable=False),
                        sa.PrimaryKeyConstraint('id'),
                        sqlite_autoincrement=True)
        op.create_index('ix_apiimport_api_key_id', 'apiimport', ['api_key_id'], unique=False)


def downgrade() -> None:
    for table in ('apiimport', 'apirequest', 'apikey'):
        op.drop_table(table)
