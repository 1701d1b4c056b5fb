"""Every SQL statement, one module per table; the engine and sessions at the package level.

Callers write `from digest import store`, then `store.session_scope(engine)` / `store.read_session(engine)` /
`store.open_engine(url)` / `store.ping(session)`, and `store.<table>.<query>(session, ...)`, e.g.
`store.editions.find_edition(session, key=...)`. Queries take `session` first, keyword-only after, and return
plain records (`models.*Record`) or small tuples, never lazy ORM objects, to the pure stages.

The modules: `engine` (engines, schema, sessions, the helpers the others share), `articles`, `engagement`
(hourly buckets, counted clicks), `trending` (trending signals), `subscribers` (and suppressions), `editions`,
`deliveries` (the send path's rows and the lookups of one delivery), `delivery_status` (an edition's deliveries
as a whole: counts, problems, expiry, requeues), `confirmations` (the web's sign-up queue), `feeds`, `stories`
(story assignments), `ratelimit` (the workers' shared send rate) and `migrate` (Alembic).
"""

from __future__ import annotations

from digest.store.engine import open_engine, ping, read_session, session_scope
from digest.store import (
    articles, confirmations, deliveries, delivery_status, editions, engagement, feeds, ratelimit, stories,
    subscribers, trending,
)

__all__ = [
    "open_engine", "ping", "read_session", "session_scope",
    "articles", "confirmations", "deliveries", "delivery_status", "editions", "engagement", "feeds", "ratelimit",
    "stories", "subscribers", "trending",
]


# ── TEMPORARY flat facade ───────────────────────────────────────────────────────────────────────────
# The names below (and sqlmodel's `select`, and `Engagement`) are re-exported only until the callers are
# rewritten to `store.<module>.<name>` by the lead's one-off script (issue 14, run after the merge); it then
# writes this file without this section. Do not add names here, and do not use them in new code.

from sqlmodel import select  # noqa: E402

from digest.models import Engagement  # noqa: E402
from digest.store.articles import (
    ARTICLE, ARTICLE_FIELDS, RECORD_COLUMNS, article_ids_by_url, articles_by_id, candidate_articles,
    known_article_ids, known_topics_and_countries, list_articles, upsert_article_rows, upsert_articles,
)
from digest.store.engagement import (
    add_engagement, count_click, count_engagement, engagement_signals, reference_views,
)
from digest.store.trending import (
    add_trending_signals, trending_signals,
)
from digest.store.subscribers import (
    SUBSCRIBER_FIELDS, UPSERT_COUNTS, add_pending_subscriber, confirm_subscriber, delete_subscriber,
    due_subscribers, erase_subscriber, find_subscriber, is_suppressed, list_subscribers, resubscribe,
    send_slots, set_subscriber_status, subscriber_by_id, subscriber_token_key, subscribers_by_id,
    update_preferences, upsert_subscribers,
)
from digest.store.editions import (
    delete_edition, delete_edition_rows, edition_by_id, editions_for_date, editions_in_status,
    editions_with_due_retries, ensure_edition, extend_deadline, find_edition, latest_edition_date, mark_edition,
    prunable_editions,
)
from digest.store.deliveries import (
    DELIVERY, OUTCOME_FIELDS, REQUEUEABLE, SENDABLE, add_deliveries, carried_articles, claim, delivery_by_id,
    delivery_by_message_id, delivery_items, delivery_links, delivery_recipient, delivery_token_key,
    pending_deliveries, planned_subscriber_ids, record_bounce, record_outcome, record_outcomes,
    recover_interrupted, release, sendable_deliveries, shard_ranges, subscriber_delivery,
)
from digest.store.delivery_status import (
    edition_counts, edition_problems, expire_remaining, failure_reasons, oldest_pending, recent_outcomes,
    requeue_outcomes, requeue_unknown, sending_owners,
)
from digest.store.confirmations import (
    claim_confirmation, confirmation_counts, interrupted_confirmations, queue_confirmation, record_confirmation,
    sendable_confirmations,
)
from digest.store.feeds import (
    add_feed, find_feed, list_feeds, record_feed_fetch, remove_feed,
)
from digest.store.stories import (
    save_story_assignments, story_assignments,
)

__all__ += ["select", "Engagement"]
__all__ += [
    "ARTICLE", "ARTICLE_FIELDS", "DELIVERY", "OUTCOME_FIELDS", "RECORD_COLUMNS", "REQUEUEABLE", "SENDABLE",
    "SUBSCRIBER_FIELDS", "UPSERT_COUNTS", "add_deliveries", "add_engagement", "add_feed",
    "add_pending_subscriber", "add_trending_signals", "article_ids_by_url", "articles_by_id",
    "candidate_articles", "carried_articles", "claim", "claim_confirmation", "confirm_subscriber",
    "confirmation_counts", "count_click", "count_engagement", "delete_edition", "delete_edition_rows",
    "delete_subscriber", "delivery_by_id", "delivery_by_message_id", "delivery_items", "delivery_links",
    "delivery_recipient", "delivery_token_key", "due_subscribers", "edition_by_id", "edition_counts",
    "edition_problems", "editions_for_date", "editions_in_status", "editions_with_due_retries",
    "engagement_signals", "ensure_edition", "erase_subscriber", "expire_remaining", "extend_deadline",
    "failure_reasons", "find_edition", "find_feed", "find_subscriber", "interrupted_confirmations",
    "is_suppressed", "known_article_ids", "known_topics_and_countries", "latest_edition_date", "list_articles",
    "list_feeds", "list_subscribers", "mark_edition", "oldest_pending", "pending_deliveries",
    "planned_subscriber_ids", "prunable_editions", "queue_confirmation", "recent_outcomes", "record_bounce",
    "record_confirmation", "record_feed_fetch", "record_outcome", "record_outcomes", "recover_interrupted",
    "reference_views", "release", "remove_feed", "requeue_outcomes", "requeue_unknown", "resubscribe",
    "save_story_assignments", "send_slots", "sendable_confirmations", "sendable_deliveries", "sending_owners",
    "set_subscriber_status", "shard_ranges", "story_assignments", "subscriber_by_id", "subscriber_delivery",
    "subscriber_token_key", "subscribers_by_id", "trending_signals", "update_preferences",
    "upsert_article_rows", "upsert_articles", "upsert_subscribers"
]
