"""The status vocabularies (StrEnums) of every table, the delivery state machine, and the status groups the
store and the pipeline share.
"""

from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
    view = "view"
    click = "click"
    share = "share"
    comment = "comment"


class SubscriberStatus(StrEnum):
    active = "active"
    pending = "pending"
    unsubscribed = "unsubscribed"
    bounced = "bounced"
    complained = "complained"
    removed = "removed"  # `subscribers remove`: the row stays (its history keeps "never twice"), never mailed


# The statuses a reader is never mailed in, and that only an explicit `--resubscribe` (or their own double
# opt-in) lifts: an import or `subscribers add` leaves them as they are.
SUPPRESSED = (SubscriberStatus.unsubscribed, SubscriberStatus.bounced, SubscriberStatus.complained,
              SubscriberStatus.removed)


class SubscriptionStatus(StrEnum):
    """One newsletter's subscription: the reader's own status (bounced, removed, ...) stops every one of them."""

    active = "active"
    unsubscribed = "unsubscribed"


class Frequency(StrEnum):
    daily = "daily"
    weekly = "weekly"


class Format(StrEnum):
    html = "html"
    text = "text"


class EditionStatus(StrEnum):
    planned = "planned"
    sending = "sending"
    done = "done"


class DeliveryStatus(StrEnum):
    """The delivery state machine (README: "What happens to every message").

        (planned) ─▶ queued ─▶ sending ─▶ sent | deferred | failed | bounced | unknown
        (planned) ─▶ skipped           queued ─▶ skipped (unsubscribed at send time)
        deferred ─▶ sending (retry when due)   queued | deferred ─▶ expired (deadline passed)
        unknown ─▶ queued (only `digest send --retry-unknown`, an operator's decision)
        sent | unknown ─▶ bounced (a bounce report arrived later: `digest bounces import`)
        sending ─▶ queued | deferred (as before the claim: the message never left, or the circuit breaker held it)
        failed | bounced ─▶ queued (the circuit breaker's storm, or `digest deliveries requeue`: the operator's)
        unknown ─▶ queued (also `digest deliveries requeue --status unknown`, the operator's decision)
        sent ─▶ queued (`digest deliveries resend` or the console: the operator sends the reader a second copy)
    """

    queued = "queued"
    sending = "sending"
    sent = "sent"
    deferred = "deferred"
    failed = "failed"
    bounced = "bounced"
    unknown = "unknown"
    skipped = "skipped"
    expired = "expired"


TRANSITIONS: dict[str, frozenset[str]] = {
    "queued": frozenset({"sending", "skipped", "expired", "failed"}),  # failed: no message can be built
    "sending": frozenset({"sent", "deferred", "failed", "bounced", "unknown", "queued"}),  # queued: never left
    "deferred": frozenset({"sending", "expired"}),
    "unknown": frozenset({"queued", "bounced"}),  # a bounce report shows it was accepted, then bounced
    "sent": frozenset({"bounced", "queued"}),  # a bounce report (`digest bounces import`); the operator's resend
    "failed": frozenset({"queued"}), "bounced": frozenset({"queued"}),  # the breaker, or the operator's requeue
    "skipped": frozenset(),
    "expired": frozenset(),
}

# A delivery in one of these may have reached (or may yet reach) the reader: its articles count as sent.
CARRIED = (DeliveryStatus.queued, DeliveryStatus.sending, DeliveryStatus.sent,
           DeliveryStatus.unknown, DeliveryStatus.deferred)
FINAL_OK = (DeliveryStatus.sent, DeliveryStatus.skipped)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")




class FeedStatus(StrEnum):
    new = "new"  # registered, not fetched yet
    ok = "ok"  # fetched and parsed (some items may have been rejected: see `last_result`)
    not_modified = "not_modified"  # 304: nothing new since the last fetch
    error = "error"  # the fetch or the parse failed: see `last_error`




class SuppressionReason(StrEnum):
    unsubscribed = "unsubscribed"
    bounced = "bounced"
    complained = "complained"
    removed = "removed"  # `subscribers remove`: the subscriber row and its history stay too
    erased = "erased"  # `subscribers erase`: this record is all that is left of the address




class ConfirmationStatus(StrEnum):
    """A double opt-in email's row, written `queued` before the send (like every delivery):
    queued ─▶ sending ─▶ sent | failed, and sending ─▶ queued on a temporary failure (retried by the sweep)."""

    queued = "queued"
    sending = "sending"
    sent = "sent"
    failed = "failed"
