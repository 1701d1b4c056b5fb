"""`digest bounces import` and `poll`: bounce reports, complaints and unsubscribe mail into the store. The delivery becomes `bounced`, and the subscriber is
suppressed by the guide's rules:

    hard (5.1.x, no such mailbox)      suppressed at once
    soft (4.x.x, 5.2.x, the rest)      suppressed after `[bounces] soft_threshold` soft bounces in a row
    policy (x.7.x, the sender's side)  never: alert the operator instead of blaming the reader
    complaint (ARF, a provider's)      always: the reader becomes `complained`
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
from digest.ingest.bounces import BounceReport, bounce_kind, read_mailbox
from digest.ingest.inbound import Complaint, Inbound, UnsubscribeRequest, read_inbound
from digest.operations.common import engine_for, require_secret
from digest.operations.reader import token_key, unsubscribe
from digest.models import Delivery, DeliveryStatus, SubscriberStatus
from digest.ingest.subscribers import normalize_email
from digest.pipeline.bounces import suppress
from digest.tokens import read_bound_token

BATCH = 200  # messages recorded per transaction

# A complaint suppresses whoever was still mailable or had only left; a removed reader stays removed.
COMPLAINABLE = (SubscriberStatus.active, SubscriberStatus.pending, SubscriberStatus.unsubscribed,
                SubscriberStatus.bounced)


@dataclass
class BounceSummary:
    messages: int = 0
    recorded: int = 0  # deliveries marked bounced by this run
    repeated: int = 0  # reports about deliveries already marked bounced (an import run twice), or complaints again
    unmatched: int = 0  # failure reports that name none of our deliveries
    mismatched: int = 0  # reports about one of our deliveries whose Final-Recipient is not its recipient
    ignored: int = 0  # a delivery status report that is not a failure ("delayed", "delivered")
    unreadable: int = 0  # none of the three kinds (not a bounce, a complaint or an unsubscribe request)
    kinds: Counter = field(default_factory=Counter)
    suppressed: list[str] = field(default_factory=list)
    complained: list[str] = field(default_factory=list)  # readers a complaint suppressed
    unsubscribed: list[str] = field(default_factory=list)  # readers who left by mail (the mailto: address)
    moved: int = 0  # `bounces poll`: messages moved to the processed folder


def import_bounce_file(settings: Settings, path: Path, *, now: datetime, engine: Engine | None = None
                       ) -> BounceSummary:
    """`digest bounces import PATH`: a Maildir, an mbox or one saved message; the VERP tokens need the key."""
    require_secret(settings, "it checks the VERP tokens of the bounces")
    return import_bounces(engine or engine_for(settings), settings, read_mailbox(path), now=now)


def import_bounces(engine: Engine, settings: Settings, messages: Iterable[bytes], *, now: datetime) -> BounceSummary:
    """Read every message and record what it says: bounces, complaints, unsubscribe requests."""
    summary = BounceSummary()
    batch: list[bytes] = []
    for data in messages:
        batch.append(data)
        if len(batch) == BATCH:
            apply_messages(engine, settings, batch, now=now, summary=summary)
            batch = []
    apply_messages(engine, settings, batch, now=now, summary=summary)
    return summary


def apply_messages(engine: Engine, settings: Settings, messages: Sequence[bytes], *, now: datetime,
                   summary: BounceSummary) -> list[bool]:
    """Record what each message says (`ingest.inbound`): the bounces and complaints in one transaction, then each
    unsubscribe request as the one-click link does (`operations.reader`); whether each was one of the three
    kinds (False: unreadable, it stays where it is)."""
    read = [read_inbound(data, settings.sender_domain) for data in messages]
    summary.messages += len(read)
    summary.unreadable += sum(inbound.kind == "unreadable" for inbound in read)
    if any(inbound.kind in ("bounce", "complaint") for inbound in read):
        with store.session_scope(engine) as session:
            for inbound in read:
                _record(session, settings, inbound, now, summary)
    for inbound in read:
        if inbound.kind == "unsubscribe":
            _unsubscribe(engine, settings, inbound.unsubscribe, now, summary)
    return [inbound.kind != "unreadable" for inbound in read]


def _record(session, settings: Settings, inbound: Inbound, now: datetime, summary: BounceSummary) -> None:
    if inbound.kind == "complaint":
        record_complaint(session, settings, inbound.complaint, now, summary)
    elif inbound.kind == "bounce":
        reports = [r for r in inbound.bounces if r.failed]
        summary.ignored += not reports
        for report in reports:
            record_report(session, settings, report, now, summary)


def _unsubscribe(engine: Engine, settings: Settings, request: UnsubscribeRequest, now: datetime,
                 summary: BounceSummary) -> bool:
    """Mail to the mailto: address: the reader its token names leaves, exactly as with the one-click link."""
    for token in request.tokens:
        found = read_bound_token(settings.secret_key, "unsubscribe", token, settings.sender.list_id,
                                 lambda subscriber_id: token_key(engine, subscriber_id))
        if found is not None:
            left = unsubscribe(engine, settings, found[0], newsletter=found[1], now=now)
            if left is not None:
                summary.unsubscribed.append(left.sub.email)
                return True
    summary.unmatched += 1  # no genuine token: read (it moves), but nobody leaves
    return True


def record_report(session, settings: Settings, report: BounceReport, now: datetime, summary: BounceSummary) -> None:
    """One failed recipient: the delivery becomes bounced, the subscriber suppressed by the rules."""
    delivery = _matching(session, settings, report, summary)
    if delivery is None:
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


def record_complaint(session, settings: Settings, complaint: Complaint, now: datetime, summary: BounceSummary) -> None:
    """A spam complaint about one of our deliveries: its reader becomes `complained`, always (never mailed
    again without a new consent). A `not-spam` report changes nothing."""
    if complaint.feedback_type == "not-spam":
        summary.ignored += 1
        return
    delivery = _matching(session, settings, complaint, summary)
    if delivery is None:
        return
    if store.subscribers.set_subscriber_status(session, subscriber_id=delivery.subscriber_id,
                                               status=SubscriberStatus.complained, now=now, only_from=COMPLAINABLE):
        summary.complained.append(store.subscribers.subscriber_by_id(session, subscriber_id=delivery.subscriber_id).email)
    else:
        summary.repeated += 1  # complained already (a replay), or removed


def _matching(session, settings: Settings, report: BounceReport | Complaint, summary: BounceSummary
              ) -> Delivery | None:
    """The delivery a report is about, if its recipient (when it names one) is that delivery's."""
    delivery = find_delivery(session, settings, report)
    if delivery is None:
        summary.unmatched += 1
        return None
    if report.recipient and not _same_address(report.recipient,
                                              store.deliveries.delivery_recipient(session, delivery_id=delivery.id)):
        summary.mismatched += 1  # a report about someone else (or forged): it suppresses nobody
        return None
    return delivery


def find_delivery(session, settings: Settings, report: BounceReport | Complaint) -> Delivery | None:
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
