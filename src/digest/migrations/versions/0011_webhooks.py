"""webhooks: `webhookendpoint` (URL, secret, events), the outbox `webhookevent`, `webhookattempt` (one event's
delivery to one endpoint) and `webhooklog` (one row per HTTP attempt)

Idempotent like 0004: opening a store read-write already creates new tables, so each is created only if missing.
(down_revision 0008: the REST API's and the provider events' migrations come between; re-chained at merge.)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 18:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

from digest.models import UTCDateTime

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

TEXT = sqlmodel.sql.sqltypes.AutoString
STATUS = sa.Enum('pending', 'delivered', 'failed', name='webhookstatus')


def _status():
    """The attempts' status type. On PostgreSQL it is made here if missing (a read-write open's `create_all`
    makes every enum type of the models, even when it creates one table only), and the table then uses it."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return STATUS
    from sqlalchemy.dialects.postgresql import ENUM

    ENUM('pending', 'delivered', 'failed', name='webhookstatus').create(bind, checkfirst=True)
    return ENUM('pending', 'delivered', 'failed', name='webhookstatus', create_type=False)


def _missing(table: str) -> bool:
    return not sa.inspect(op.get_bind()).has_table(table)


def upgrade() -> None:
    if _missing('webhookendpoint'):
        op.create_table('webhookendpoint',
                        sa.Column('id', sa.Integer(), nullable=False),
                        sa.Column('url', TEXT(), nullable=False),
                        sa.Column('name', TEXT(), nullable=False),
                        sa.Column('secret', TEXT(), nullable=False),
                        sa.Column('events', sa.JSON(), nullable=False),
                        sa.Column('enabled', sa.Boolean(), nullable=False),
                        sa.Column('disabled_reason', TEXT(), nullable=True),
                        sa.Column('failing_since', UTCDateTime(), nullable=True),
                        sa.Column('created_at', UTCDateTime(), nullable=False),
                        sa.PrimaryKeyConstraint('id'), sqlite_autoincrement=True)
        op.create_index('ix_webhookendpoint_url', 'webhookendpoint', ['url'], unique=False)
    if _missing('webhookevent'):
        op.create_table('webhookevent',
                        sa.Column('id', sa.Integer(), nullable=False),
                        sa.Column('type', TEXT(), nullable=False),
                        sa.Column('payload', sa.JSON(), nullable=False),
                        sa.Column('created_at', UTCDateTime(), nullable=False),
                        sa.PrimaryKeyConstraint('id'), sqlite_autoincrement=True)
        op.create_index('ix_webhookevent_type', 'webhookevent', ['type'], unique=False)
    if _missing('webhookattempt'):
        _create_attempts()
    if _missing('webhooklog'):
        _create_log()


def _create_attempts() -> None:
    op.create_table('webhookattempt',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('endpoint_id', sa.Integer(), nullable=False),
                    sa.Column('event_id', sa.Integer(), nullable=False),
                    sa.Column('status', _status(), nullable=False),
                    sa.Column('attempts', sa.Integer(), nullable=False),
                    sa.Column('next_attempt_at', UTCDateTime(), nullable=False),
                    sa.Column('last_status_code', sa.Integer(), nullable=True),
                    sa.Column('last_error', TEXT(), nullable=True),
                    sa.Column('delivered_at', UTCDateTime(), nullable=True),
                    sa.ForeignKeyConstraint(['endpoint_id'], ['webhookendpoint.id']),
                    sa.ForeignKeyConstraint(['event_id'], ['webhookevent.id']),
                    sa.PrimaryKeyConstraint('id'), sa.UniqueConstraint('endpoint_id', 'event_id'),
                    sqlite_autoincrement=True)
    for column in ('endpoint_id', 'event_id', 'status', 'next_attempt_at', 'delivered_at'):
        op.create_index(f'ix_webhookattempt_{column}', 'webhookattempt', [column], unique=False)


def _create_log() -> None:
    op.create_table('webhooklog',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('attempt_id', sa.Integer(), nullable=False),
                    sa.Column('endpoint_id', sa.Integer(), nullable=False),
                    sa.Column('at', UTCDateTime(), nullable=False),
                    sa.Column('status_code', sa.Integer(), nullable=True),
                    sa.Column('error', TEXT(), nullable=True),
                    sa.Column('duration_ms', sa.Integer(), nullable=False),
                    sa.ForeignKeyConstraint(['attempt_id'], ['webhookattempt.id']),
                    sa.PrimaryKeyConstraint('id'), sqlite_autoincrement=True)
    op.create_index('ix_webhooklog_attempt_id', 'webhooklog', ['attempt_id'], unique=False)
    op.create_index('ix_webhooklog_endpoint_id', 'webhooklog', ['endpoint_id'], unique=False)


def downgrade() -> None:
    for table in ('webhooklog', 'webhookattempt', 'webhookevent', 'webhookendpoint'):
        op.drop_table(table)
    STATUS.drop(op.get_bind(), checkfirst=True)
