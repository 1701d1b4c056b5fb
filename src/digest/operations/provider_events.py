"""A provider's events (`ingest.providers`) applied as the bounce mailbox's are (`operations.bounces`):

    bounce     the delivery becomes bounced; the reader is suppressed by the rules (hard at once, soft after
               `[bounces] soft_threshold` in a row, policy never)
    complaint  the reader becomes `complained`, always
    delivered  nothing new: the delivery is already `sent` (counted only)

Each event is matched by our Message-ID or VERP token (Postmark without Metadata: the newest delivery to that
address sent in the last RECIPIENT_DAYS days), and its recipient must be the delivery's. A replay (the same event
again) finds the delivery bounced or the reader complained already and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.ingest.bounces import BounceReport
from digest.ingest.inbound import Complaint
from digest.ingest.providers import ProviderEvent
from digest.ingest.subscribers import normalize_email
from digest.operations.bounces import BounceSummary, record_complaint, record_report

RECIPIENT_DAYS = 7


@dataclass(frozen=True)
class ProviderOutcome:
    """What a request did: `status` is the HTTP status to answer (200 when the events were read)."""

    status: int
    message: str = "ok"
    events: int = 0
    recorded: int = 0  # deliveries marked bounced
    complained: tuple[str, ...] = ()
    suppressed: tuple[str, ...] = ()
    delivered: int = 0
    repeated: int = 0
    unmatched: int = 0

    def as_json(self) -> dict:
        if self.status != 200:
            return {"error": self.message}
        return {"events": self.events, "recorded": self.recorded, "suppressed": len(self.suppressed),
                "complained": len(self.complained), "delivered": self.delivered, "repeated": self.repeated,
                "unmatched": self.unmatched}


def refused(status: int, message: str) -> ProviderOutcome:
    return ProviderOutcome(status, message)


def apply_events(engine: Engine, settings: Settings, events: Sequence[ProviderEvent], *, now: datetime
                 ) -> ProviderOutcome:
    """Every event of one request, in one transaction."""
    summary, delivered = BounceSummary(), 0
    with store.session_scope(engine) as session:
        for event in events:
            summary.messages += 1
            if event.kind == "delivered":
                delivered += _resolve(session, event, now) is not None
            elif event.kind == "bounce":
                message_id = _resolve(session, event, now)
                record_report(session, settings, BounceReport(
                    recipient=event.recipient, action="failed", status=event.status,
                    diagnostic=event.diagnostic, verp_tokens=event.verp_tokens, message_id=message_id,
                    permanent=event.permanent), now, summary)
            elif event.kind == "complaint":
                record_complaint(session, settings, Complaint("abuse", event.recipient, event.verp_tokens,
                                                              _resolve(session, event, now)), now, summary)
    return ProviderOutcome(200, events=len(events), recorded=summary.recorded, complained=tuple(summary.complained),
                           suppressed=tuple(summary.suppressed), delivered=delivered, repeated=summary.repeated,
                           unmatched=summary.unmatched + summary.mismatched)


def _resolve(session, event: ProviderEvent, now: datetime) -> str | None:
    """The Message-ID (as we stored it) of the delivery an event is about, when one of its forms is ours; for an
    event matched by recipient, that of the newest delivery to the address."""
    for message_id in event.message_ids:
        if store.deliveries.delivery_by_message_id(session, message_id=message_id) is not None:
            return message_id
    if event.by_recipient and event.recipient:
        try:
            email = normalize_email(event.recipient)
        except ValueError:
            return None
        found = store.inbound.latest_delivery_to(session, email=email, since=now - timedelta(days=RECIPIENT_DAYS))
        return found.message_id if found is not None else None
    return event.message_ids[0] if event.message_ids else None
