"""`digest bounces import`: bounce reports into the store. The delivery becomes `bounced`, and the subscriber is
suppressed by the guide's rules:

    hard (5.1.x, no such mailbox)      suppressed at once
    soft (4.x.x, 5.2.x, the rest)      suppressed after `[bounces] soft_threshold` soft bounces in a row
    policy (x.7.x, the sender's side)  never: alert the operator instead of blaming the reader
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.ingest.bounces import BounceReport, bounce_kind, parse_report, read_mailbox
from digest.operations.common import engine_for, require_secret
from digest.models import Delivery, DeliveryStatus
from digest.ingest.subscribers import normalize_email
from digest.pipeline.bounces import suppress
from digest.tokens import read_bound_token


@dataclass
class BounceSummary:
    messages: int = 0
    recorded: int = 0  # deliveries marked bounced by this run
    repeated: int = 0  # reports about deliveries already marked bounced (an import run twice)
    unmatched: int = 0  # failure reports that name none of our deliveries
    mismatched: int = 0  # reports about one of our deliveries whose Final-Recipient is not its recipient
    ignored: int = 0  # not a delivery status report, or not a failure ("delayed", "delivered")
    kinds: Counter = field(default_factory=Counter)
    suppressed: list[str] = field(default_factory=list)


def import_bounce_file(settings: Settings, path: Path, *, now: datetime, engine: Engine | None = None
                       ) -> BounceSummary:
    """`digest bounces import PATH`: a Maildir, an mbox or one saved message; the VERP tokens need the key."""
    require_secret(settings, "it checks the VERP tokens of the bounces")
    return import_bounces(engine or engine_for(settings), settings, read_mailbox(path), now=now)


def import_bounces(engine: Engine, settings: Settings, messages: Iterable[bytes], *, now: datetime) -> BounceSummary:
    """Read every message, record what its delivery status report says; one transaction for the lot."""
    summary = BounceSummary()
    with store.session_scope(engine) as session:
        for data in messages:
            summary.messages += 1
            reports = [r for r in _reports(data) if r.failed]
            summary.ignored += not reports
            for report in reports:
                _apply(session, settings, report, now, summary)
    return summary


def _reports(data: bytes) -> list[BounceReport]:
    try:
        return parse_report(data)
    except (ValueError, LookupError, TypeError, AttributeError, IndexError):
        return []  # a malformed message is not a report we can act on


def _apply(session, settings: Settings, report: BounceReport, now: datetime, summary: BounceSummary) -> None:
    delivery = find_delivery(session, settings, report)
    if delivery is None:
        summary.unmatched += 1
        return
    if not _same_address(report.recipient, store.deliveries.delivery_recipient(session, delivery_id=delivery.id)):
        summary.mismatched += 1  # a report about someone else (or forged): it suppresses nobody
        return
    if delivery.status == DeliveryStatus.bounced:
        summary.repeated += 1
        return
    if not store.deliveries.record_bounce(session, delivery_id=delivery.id, smtp_code=report.smtp_code, smtp_reply=report.reply,
                               error=f"{report.kind} bounce reported for {report.recipient}: {report.reply}", now=now):
        summary.unmatched += 1  # never sent (skipped, expired, ...): a report about it is not ours to trust
        return
    summary.recorded += 1
    summary.kinds[report.kind] += 1
    store.webhooks.emit_delivery(session, type="delivery.bounced", delivery_id=delivery.id, now=now, kind=report.kind)
    if should_suppress(report.kind, store.delivery_status.recent_outcomes(session, subscriber_id=delivery.subscriber_id),
                       settings.bounces.soft_threshold):
        summary.suppressed += suppress(session, [delivery.subscriber_id], now)


def find_delivery(session, settings: Settings, report: BounceReport) -> Delivery | None:
    """The delivery a report is about: by its VERP token (HMAC-checked), else by the returned Message-ID."""
    def ident_of(delivery_id: int) -> str | None:  # the identity of the subscriber the delivery was made for
        return store.deliveries.delivery_token_key(session, delivery_id=delivery_id)

    for token in report.verp_tokens:
        found = read_bound_token(settings.secret_key, "bounce", token, settings.sender.list_id, ident_of)
        if found is not None:
            return store.deliveries.delivery_by_id(session, delivery_id=found[0])
    if report.message_id:
        return store.deliveries.delivery_by_message_id(session, message_id=report.message_id)
    return None


def _same_address(reported: str, recipient: str | None) -> bool:
    """Whether a report's Final-Recipient is the delivery's recipient, compared in the normalised form."""
    if recipient is None:
        return False
    try:
        return normalize_email(reported.strip().strip("<>")) == normalize_email(recipient)
    except ValueError:
        return False


def should_suppress(kind: str, outcomes: Sequence[tuple[str, str | None]], soft_threshold: int) -> bool:
    """Whether a bounce of `kind` suppresses the subscriber, given their latest outcomes (newest first)."""
    if kind != "soft":
        return kind == "hard"
    streak = 0
    for status, reply in outcomes:
        if status != DeliveryStatus.bounced:
            break  # a delivery that went through ends the run of soft bounces
        streak += bounce_kind(reply or "") != "policy"
    return streak >= soft_threshold
