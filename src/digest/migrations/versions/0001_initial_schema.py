"""initial schema: every table as of the first release (generated from the models, then checked by
tests/test_migrations.py against them on SQLite and PostgreSQL)

Revision ID: 0001
Revises: 
Create Date: 2026-11-28 02:23:11.322181
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import digest.models

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('article',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('url', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('guid', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('summary', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('body', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('author', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('location', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('country', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('topics', sa.JSON(), nullable=False),
    sa.Column('image_url', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('published_at', digest.models.UTCDateTime(), nullable=False),
    sa.Column('updated_at', digest.models.UTCDateTime(), nullable=False),
    sa.Column('content_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('article', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_article_guid'), ['guid'], unique=False)
        batch_op.create_index(batch_op.f('ix_article_published_at'), ['published_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_article_url'), ['url'], unique=True)

    op.create_table('edition',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('period', sa.Enum('daily', 'weekly', name='frequency'), nullable=False),
    sa.Column('date', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('cutoff_at', digest.models.UTCDateTime(), nullable=False),
    sa.Column('status', sa.Enum('planned', 'sending', 'done', name='editionstatus'), nullable=False),
    sa.Column('created_at', digest.models.UTCDateTime(), nullable=False),
    sa.Column('started_at', digest.models.UTCDateTime(), nullable=True),
    sa.Column('finished_at', digest.models.UTCDateTime(), nullable=True),
    sa.Column('deadline_at', digest.models.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('edition', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_edition_key'), ['key'], unique=True)

    op.create_table('feed',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('url', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('topics', sa.JSON(), nullable=False),
    sa.Column('country', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('etag', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('last_modified', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('status', sa.Enum('new', 'ok', 'not_modified', 'error', name='feedstatus'), nullable=False),
    sa.Column('http_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('last_result', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('created_at', digest.models.UTCDateTime(), nullable=False),
    sa.Column('last_fetch_at', digest.models.UTCDateTime(), nullable=True),
    sa.Column('last_ok_at', digest.models.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('feed', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feed_url'), ['url'], unique=True)

    op.create_table('subscriber',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('status', sa.Enum('active', 'pending', 'unsubscribed', 'bounced', 'complained', name='subscriberstatus'), nullable=False),
    sa.Column('topics', sa.JSON(), nullable=False),
    sa.Column('countries', sa.JSON(), nullable=False),
    sa.Column('frequency', sa.Enum('daily', 'weekly', name='frequency'), nullable=False),
    sa.Column('weekday', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('send_at', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('timezone', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('max_items', sa.Integer(), nullable=False),
    sa.Column('format', sa.Enum('html', 'text', name='format'), nullable=False),
    sa.Column('created_at', digest.models.UTCDateTime(), nullable=False),
    sa.Column('updated_at', digest.models.UTCDateTime(), nullable=False),
    sa.Column('consent_at', digest.models.UTCDateTime(), nullable=True),
    sa.Column('consent_source', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('paused_until', sa.Date(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('subscriber', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscriber_email'), ['email'], unique=True)

    op.create_table('delivery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('edition_id', sa.Integer(), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('queued', 'sending', 'sent', 'deferred', 'failed', 'bounced', 'unknown', 'skipped', 'expired', name='deliverystatus'), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('smtp_code', sa.Integer(), nullable=True),
    sa.Column('smtp_reply', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('variant_key', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('created_at', digest.models.UTCDateTime(), nullable=False),
    sa.Column('updated_at', digest.models.UTCDateTime(), nullable=False),
    sa.Column('sent_at', digest.models.UTCDateTime(), nullable=True),
    sa.Column('next_attempt_at', digest.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['edition_id'], ['edition.id'], ),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscriber.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('edition_id', 'subscriber_id')
    )
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_edition_id'), ['edition_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_delivery_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_delivery_subscriber_id'), ['subscriber_id'], unique=False)

    op.create_table('engagement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.Column('hour', digest.models.UTCDateTime(), nullable=False),
    sa.Column('kind', sa.Enum('view', 'click', 'share', 'comment', name='eventkind'), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['article.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('article_id', 'hour', 'kind')
    )
    with op.batch_alter_table('engagement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_engagement_article_id'), ['article_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_engagement_hour'), ['hour'], unique=False)
        batch_op.create_index('ix_engagement_signals', ['hour', 'article_id', 'kind', 'count'], unique=False)

    op.create_table('storyassignment',
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.Column('story_key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('assigned_at', digest.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['article.id'], ),
    sa.PrimaryKeyConstraint('article_id')
    )
    with op.batch_alter_table('storyassignment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_storyassignment_story_key'), ['story_key'], unique=False)

    op.create_table('trendingsignal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('page_url', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('title_key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('region', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('seen_at', digest.models.UTCDateTime(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['article_id'], ['article.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('page_url', 'title')
    )
    with op.batch_alter_table('trendingsignal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trendingsignal_article_id'), ['article_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_trendingsignal_page_url'), ['page_url'], unique=False)
        batch_op.create_index(batch_op.f('ix_trendingsignal_seen_at'), ['seen_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_trendingsignal_title_key'), ['title_key'], unique=False)

    op.create_table('deliveryitem',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.Column('story_key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('section', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('why', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['article.id'], ),
    sa.ForeignKeyConstraint(['delivery_id'], ['delivery.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('delivery_id', 'article_id')
    )
    with op.batch_alter_table('deliveryitem', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deliveryitem_article_id'), ['article_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deliveryitem_delivery_id'), ['delivery_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deliveryitem_story_key'), ['story_key'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('deliveryitem', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deliveryitem_story_key'))
        batch_op.drop_index(batch_op.f('ix_deliveryitem_delivery_id'))
        batch_op.drop_index(batch_op.f('ix_deliveryitem_article_id'))

    op.drop_table('deliveryitem')
    with op.batch_alter_table('trendingsignal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trendingsignal_title_key'))
        batch_op.drop_index(batch_op.f('ix_trendingsignal_seen_at'))
        batch_op.drop_index(batch_op.f('ix_trendingsignal_page_url'))
        batch_op.drop_index(batch_op.f('ix_trendingsignal_article_id'))

    op.drop_table('trendingsignal')
    with op.batch_alter_table('storyassignment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_storyassignment_story_key'))

    op.drop_table('storyassignment')
    with op.batch_alter_table('engagement', schema=None) as batch_op:
        batch_op.drop_index('ix_engagement_signals')
        batch_op.drop_index(batch_op.f('ix_engagement_hour'))
        batch_op.drop_index(batch_op.f('ix_engagement_article_id'))

    op.drop_table('engagement')
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_subscriber_id'))
        batch_op.drop_index(batch_op.f('ix_delivery_status'))
        batch_op.drop_index(batch_op.f('ix_delivery_edition_id'))

    op.drop_table('delivery')
    with op.batch_alter_table('subscriber', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscriber_email'))

    op.drop_table('subscriber')
    with op.batch_alter_table('feed', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feed_url'))

    op.drop_table('feed')
    with op.batch_alter_table('edition', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_edition_key'))

    op.drop_table('edition')
    with op.batch_alter_table('article', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_article_url'))
        batch_op.drop_index(batch_op.f('ix_article_published_at'))
        batch_op.drop_index(batch_op.f('ix_article_guid'))

    op.drop_table('article')
