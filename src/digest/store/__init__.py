"""The engine, sessions and every SQL statement. Functions take `session` first, keyword-only after.

Queries return plain records (`models.*Record`) or small tuples, never lazy ORM objects, to the pure stages.

One module per role, all re-exported here so callers keep writing `from digest import store` and `store.X`:
`engine` (engines, schema, sessions, the `_chunks` helper), `articles` (articles, engagement, trending signals),
`subscribers`, `editions`, `deliveries` (deliveries and their reliability), `stories` (story assignments), `feeds`,
and `reader` (what the web pages, sign-ups and bounce handling need).
"""

from __future__ import annotations

from sqlmodel import select  # callers (and tests) reach these through `store.`, as they did when store was one module

from digest.models import Engagement
from digest.store.engine import (
    open_engine, session_scope, read_session,
)
from digest.store.articles import (
    ARTICLE_FIELDS, upsert_articles, article_ids_by_url, known_article_ids, add_engagement, count_engagement,
    list_articles, ARTICLE, RECORD_COLUMNS, candidate_articles, engagement_signals, reference_views,
    articles_by_id, add_trending_signals, trending_signals, upsert_article_rows,
)
from digest.store.subscribers import (
    SUBSCRIBER_FIELDS, upsert_subscribers, list_subscribers, find_subscriber, delete_subscriber,
    due_subscribers, UPSERT_COUNTS, subscriber_token_key, is_suppressed, erase_subscriber, delivery_token_key,
    delivery_recipient,
)
from digest.store.editions import (
    find_edition, edition_by_id, editions_in_status, ensure_edition, mark_edition, editions_for_date,
    latest_edition_date, extend_deadline, prunable_editions, delete_edition_rows, delete_edition, send_slots,
    editions_with_due_retries,
)
from digest.store.deliveries import (
    DELIVERY, shard_ranges, planned_subscriber_ids, carried_articles, add_deliveries, sendable_deliveries, claim,
    pending_deliveries, delivery_items, subscribers_by_id, OUTCOME_FIELDS, SENDABLE, record_outcomes,
    record_outcome, recover_interrupted, edition_counts, edition_problems, expire_remaining, requeue_unknown,
    sending_owners, failure_reasons, oldest_pending,
)
from digest.store.deliveries import REQUEUEABLE, release, requeue_outcomes
from digest.store import ratelimit
from digest.store.stories import (
    story_assignments, save_story_assignments,
)
from digest.store.feeds import (
    add_feed, find_feed, list_feeds, remove_feed, record_feed_fetch,
)
from digest.store.reader import (
    ping, subscriber_by_id, known_topics_and_countries, set_subscriber_status, update_preferences,
    add_pending_subscriber, confirm_subscriber, subscriber_delivery, delivery_links, delivery_by_message_id,
    delivery_by_id, record_bounce, recent_outcomes,
)
from digest.store.reader import (  # the web's sign-up queue and counted clicks
    resubscribe, count_click, queue_confirmation, sendable_confirmations, claim_confirmation, record_confirmation,
    interrupted_confirmations, confirmation_counts,
)

__all__ = [
    "open_engine", "session_scope", "read_session", "ARTICLE_FIELDS", "upsert_articles", "article_ids_by_url",
    "known_article_ids", "add_engagement", "count_engagement", "list_articles", "ARTICLE", "RECORD_COLUMNS",
    "candidate_articles", "engagement_signals", "reference_views", "articles_by_id",
    "add_trending_signals", "trending_signals", "upsert_article_rows", "SUBSCRIBER_FIELDS",
    "upsert_subscribers", "list_subscribers", "find_subscriber", "delete_subscriber", "due_subscribers",
    "UPSERT_COUNTS", "subscriber_token_key", "is_suppressed", "erase_subscriber", "delivery_token_key",
    "delivery_recipient",
    "DELIVERY", "find_edition", "edition_by_id", "editions_in_status", "shard_ranges", "ensure_edition", "mark_edition",
    "planned_subscriber_ids", "carried_articles", "add_deliveries", "sendable_deliveries",
    "claim", "pending_deliveries", "delivery_items", "subscribers_by_id", "OUTCOME_FIELDS", "SENDABLE", "record_outcomes",
    "record_outcome", "recover_interrupted", "edition_counts", "edition_problems", "editions_for_date",
    "latest_edition_date", "extend_deadline", "expire_remaining", "requeue_unknown", "sending_owners", "prunable_editions", "delete_edition_rows", "delete_edition", "send_slots",
    "editions_with_due_retries", "failure_reasons", "oldest_pending", "story_assignments",
    "save_story_assignments", "add_feed", "find_feed", "list_feeds", "remove_feed", "record_feed_fetch", "ping",
    "subscriber_by_id", "known_topics_and_countries", "set_subscriber_status", "update_preferences",
    "add_pending_subscriber", "confirm_subscriber", "subscriber_delivery", "delivery_links",
    "delivery_by_message_id", "delivery_by_id", "record_bounce", "recent_outcomes", "Engagement", "select", "ratelimit"
]
__all__ += ["resubscribe", "count_click", "queue_confirmation", "sendable_confirmations", "claim_confirmation",
            "record_confirmation", "interrupted_confirmations", "confirmation_counts"]
