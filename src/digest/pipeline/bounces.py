"""The send path's own bounce: a relay refused the mailbox at RCPT (5.1.x), so the reader is suppressed at once.

Bounce reports that come back later are imported by `digest.operations.bounces`, which suppresses through
`suppress` here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from digest import store
from digest.models import SubscriberStatus

SUPPRESSIBLE = (SubscriberStatus.active, SubscriberStatus.pending)


def suppress_bounced(session, delivery_ids: Sequence[int], now: datetime) -> list[str]:
    """A relay refused the mailbox while sending (5.1.x at RCPT): a hard bounce, suppressed at once."""
    subscriber_ids = [d.subscriber_id for i in delivery_ids if (d := store.deliveries.delivery_by_id(session, delivery_id=i))]
    return suppress(session, subscriber_ids, now)


def suppress(session, subscriber_ids: Sequence[int], now: datetime) -> list[str]:
    """Active or pending subscribers become `bounced`; the addresses of those that changed."""
    emails = []
    for subscriber_id in subscriber_ids:
        if store.subscribers.set_subscriber_status(session, subscriber_id=subscriber_id, status=SubscriberStatus.bounced,
                                       now=now, only_from=SUPPRESSIBLE):
            emails.append(store.subscribers.subscriber_by_id(session, subscriber_id=subscriber_id).email)
    return emails
