"""The schema: tables, status vocabularies and the plain records the pure stages pass. No queries here: those
live in `store`.

One module per role, every public name re-exported here (`from digest.models import Subscriber`): `types`
(the UTC datetime column), `vocabulary` (statuses and the delivery state machine), `articles` (articles,
engagement, stories, feeds, trending signals), `subscribers` (subscribers, suppressions), `sending` (editions,
deliveries, items, the shared send rate), `web` (confirmations, counted clicks), `admin` (the console's
accounts), `editorial` (an editor's log of pins, exclusions, notes, approvals), `webhooks` (outbound
webhooks: endpoints, the outbox, attempts) and `records`. Importing the
package registers every table on `SQLModel.metadata` (what `create_all`
and Alembic compare against).
"""

from __future__ import annotations

from digest.models.types import UTCDateTime, json_list_field, utc_field
from digest.models.vocabulary import (
    CARRIED, FINAL_OK, SUPPRESSED, TRANSITIONS, WEEKDAYS, ConfirmationStatus, DeliveryStatus, EditionStatus, EventKind,
    FeedStatus, Format, Frequency, SubscriberStatus, SubscriptionStatus, SuppressionReason,
)
from digest.models.articles import Article, Engagement, Feed, StoryAssignment, TrendingSignal
from digest.models.subscribers import (
    PREFERENCES, Subscriber, Subscription, Suppression, address_hash, new_token_key,
)
from digest.models.sending import Delivery, DeliveryItem, Edition, RateLimit
from digest.models.web import Confirmation, CountedClick
from digest.models.admin import ADMIN_ROLES, AdminRole, AdminUser
from digest.models.editorial import EditorialAction, EditorialChange
from digest.models.api import API_SCOPES, IMPORT_STATUSES, ApiImport, ApiKey, ApiRequest
from digest.models.webhooks import (TEST_EVENT, WEBHOOK_EVENTS, WebhookAttempt, WebhookEndpoint, WebhookEvent,
                                    WebhookLog, WebhookStatus)
from digest.models.records import (
    LEAD_CHARS, ArticleRecord, EngagementRecord, SubscriberRecord, article_record, lead_paragraph, subscriber_record,
    subscriber_records, SUBSCRIBER_RECORD_FIELDS,
)

__all__ = [
    "UTCDateTime", "json_list_field", "utc_field",
    "CARRIED", "FINAL_OK", "SUPPRESSED", "TRANSITIONS", "WEEKDAYS", "ConfirmationStatus", "DeliveryStatus",
    "EditionStatus", "EventKind", "FeedStatus", "Format", "Frequency", "SubscriberStatus", "SubscriptionStatus", "SuppressionReason",
    "Article", "Engagement", "Feed", "StoryAssignment", "TrendingSignal",
    "PREFERENCES", "Subscriber", "Subscription", "Suppression", "address_hash", "new_token_key",
    "Delivery", "DeliveryItem", "Edition", "RateLimit",
    "Confirmation", "CountedClick",
    "ADMIN_ROLES", "AdminRole", "AdminUser",
    "EditorialAction", "EditorialChange",
    "API_SCOPES", "IMPORT_STATUSES", "ApiImport", "ApiKey", "ApiRequest",
    "TEST_EVENT", "WEBHOOK_EVENTS", "WebhookAttempt", "WebhookEndpoint", "WebhookEvent", "WebhookLog", "WebhookStatus",
    "LEAD_CHARS", "ArticleRecord", "EngagementRecord", "SubscriberRecord", "article_record", "lead_paragraph",
    "subscriber_record",
    "subscriber_records",
    "SUBSCRIBER_RECORD_FIELDS",
]
