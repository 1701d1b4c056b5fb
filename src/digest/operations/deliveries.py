"""`digest deliveries requeue`, the operator's way back after a bad relay: requeue an edition's failed, bounced or unknown rows of a time window,
and reactivate the readers those rows' bounces suppressed. `digest deliveries resend` (and the console's
resend): one reader's delivery of one edition queued again, so they get a second copy. Always an operator's
decision, logged as one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from sqlalchemy.engine import Engine

from digest import store
from digest.store import readers as reader_store
from digest.errors import InputError, UsageError
from digest.models import DeliveryStatus, EditionStatus, SubscriberStatus, SubscriptionStatus
from digest.operations.common import engine_for
from digest.operations.reader_record import RESEND_NOTE, RESENDABLE
from digest.pipeline.transitions import log_transition

log = logging.getLogger("digest.delivery")


@dataclass
class RequeueReport:
    edition: str
    moved: dict[str, list[int]] = field(default_factory=dict)  # status before → delivery ids now queued
    reactivated: list[str] = field(default_factory=list)  # readers back to active

    @property
    def total(self) -> int:
        return sum(len(ids) for ids in self.moved.values())


def requeue_statuses(value: str) -> list[DeliveryStatus]:
    """`--status failed,unknown`: the statuses named, each one that can be requeued; else a usage error."""
    names = [v.strip().lower() for v in value.split(",") if v.strip()]
    allowed = [str(s) for s in store.deliveries.REQUEUEABLE]
    for name in names:
        if name not in allowed:
            raise UsageError(f"--status: {name!r} cannot be requeued; choose from {', '.join(allowed)}")
    if not names:
        raise UsageError(f"--status: name at least one of {', '.join(allowed)}")
    return [DeliveryStatus(n) for n in dict.fromkeys(names)]


def parse_time(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 time; without a zone it is UTC (the zone `digest status` prints)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise UsageError(f"{option}: expected an ISO 8601 time such as 2026-11-27T07:00Z, got {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def requeue(settings, day: date, *, status: str, now: datetime, edition: str | None = None,
            since: str | None = None, until: str | None = None, dry_run: bool = False,
            engine: Engine | None = None) -> list[RequeueReport]:
    """`digest deliveries requeue`: the options as given checked (usage errors exit 2), then
    `requeue_deliveries`, on a read-only engine for a dry run."""
    statuses = requeue_statuses(status)
    start, end = parse_time(since, "--since"), parse_time(until, "--until")
    if start and end and start >= end:
        raise UsageError(f"--since {since} is not before --until {until}")
    return requeue_deliveries(engine or engine_for(settings, readonly=dry_run), day, statuses=statuses, now=now,
                              edition=edition, since=start, until=end, dry_run=dry_run)


def requeue_deliveries(engine: Engine, day: date, *, statuses: Sequence[DeliveryStatus], now: datetime,
                       edition: str | None = None, since: datetime | None = None, until: datetime | None = None,
                       dry_run: bool = False) -> list[RequeueReport]:
    """failed | bounced | unknown → queued for the rows of `day`'s editions (or `edition`) whose outcome was
    recorded in [since, until); readers whose suppression came from one of those bounces become active again.
    `dry_run` writes nothing and says what it would do."""
    scope = store.read_session(engine) if dry_run else store.session_scope(engine)
    with scope as session:
        editions = [e for e in store.editions.editions_for_date(session, date=day.isoformat()) if edition in (None, e.key)]
        if not editions:
            what = f"edition {edition}" if edition else "edition"
            raise InputError(f"no {what} on {day.isoformat()} (see `digest status --date {day.isoformat()}`)")
        reports = []
        for e in editions:
            moved, readers = store.delivery_status.requeue_outcomes(
                session, edition_id=e.id, statuses=statuses, now=now, since=since, until=until, dry_run=dry_run,
                reason=f"requeued by the operator at {now:%Y-%m-%d %H:%M:%S} UTC")
            reports.append(RequeueReport(e.key, moved, [email for _, email in readers]))
    if not dry_run:
        for report in reports:
            _log(report, since, until)
    return reports


def _log(report: RequeueReport, since: datetime | None, until: datetime | None) -> None:
    for status, ids in report.moved.items():
        for delivery_id in ids:
            log_transition(report.edition, delivery_id, "", "queued", reason=f"operator requeued it (was {status})")
    for email in report.reactivated:
        log.warning("%s: %s reactivated by the operator (their suppression came from a requeued bounce)",
                    report.edition, email)
    if report.total:
        window = f"recorded from {since or 'the start'} until {until or 'now'}"
        log.warning("%s: the operator requeued %d deliveries (%s) %s; %d readers reactivated", report.edition,
                    report.total, ", ".join(f"{len(v)} {k}" for k, v in sorted(report.moved.items())), window,
                    len(report.reactivated))


# ── the operator's resend of one edition to one reader ───────────────────────────────────────────────



@dataclass(frozen=True)
class Resent:
    edition: str
    day: date
    email: str
    delivery_id: int
    was: str  # its status before
    first_message_id: str | None  # the copy that went before (None if none did)

    def line(self) -> str:
        copy = "a second copy" if self.was == DeliveryStatus.sent else f"it again (it was {self.was})"
        return (f"{self.edition}: {self.email} queued to get {copy}; `digest send --date {self.day.isoformat()} "
                f"--subscriber {self.email}` sends it now")


def resend(settings, day: date, email: str, *, now: datetime, newsletter: str | None = None,
           edition: str | None = None, actor: str = "cli", engine: Engine | None = None) -> Resent:
    """`digest deliveries resend` and the console: the reader's delivery of `day`'s edition (of `newsletter`, or
    the `edition` key) back to `queued`, its edition `sending` again with the deadline a hand-started send
    gets, so `digest send` (or the workers' resume) builds and sends it through the usual path. Refused with one
    line for a reader who may not be mailed now, or a delivery that never went or is still on its way."""
    address = email.strip().lower()
    with store.session_scope(engine or engine_for(settings)) as session:
        sub = store.subscribers.find_subscriber(session, email=address)
        if sub is None:
            raise InputError(f"--subscriber: no reader {address}")
        e, d = _resend_target(session, sub, day, newsletter, edition)
        _resend_allowed(session, sub, e, d, day)
        done = Resent(e.key, day, address, d.id, str(d.status), d.message_id if d.sent_at else None)
        note = (f"{RESEND_NOTE} {actor} at {now:%Y-%m-%d %H:%M:%S} UTC (was {d.status}"
                + (f"; the first copy, {d.message_id}, went at {d.sent_at:%Y-%m-%d %H:%M:%S} UTC)" if d.sent_at else ")"))
        if not reader_store.resend_delivery(session, delivery_id=d.id, was=done.was, note=note, now=now):
            raise InputError(f"{e.key}: {address}'s delivery changed meanwhile; look again")
        store.editions.extend_deadline(session, edition_id=e.id,
                                       deadline=now + timedelta(hours=settings.send.deadline_hours))
        store.editions.mark_edition(session, edition_id=e.id, status=EditionStatus.sending, now=now)
    log_transition(done.edition, done.delivery_id, address, "queued", reason=f"the operator resends it (was {done.was})",
                   actor=actor)
    return done


def _resend_target(session, sub, day: date, newsletter: str | None, edition: str | None) -> tuple:
    """(Edition, Delivery): the reader's one delivery of that day's editions (of `newsletter`, or `edition`)."""
    found = [pair for e in store.editions.editions_for_date(session, date=day.isoformat(), newsletter=newsletter)
             if edition in (None, e.key)
             and (pair := store.deliveries.subscriber_delivery(session, edition_key=e.key, subscriber_id=sub.id))]
    if not found:
        what = edition or ("an edition" + (f" of {newsletter}" if newsletter else ""))
        raise InputError(f"{sub.email} has no delivery of {what} on {day.isoformat()}")
    if len(found) > 1:
        raise InputError(f"{sub.email} has {len(found)} deliveries on {day.isoformat()} "
                         f"({', '.join(e.key for e, _ in found)}): name one with --newsletter")
    return found[0]


def _resend_allowed(session, sub, edition, d, day: date) -> None:
    if sub.status != SubscriberStatus.active:
        raise InputError(f"{sub.email} is {sub.status}: not resent (they are not mailed now)")
    if sub.paused_until is not None and day < sub.paused_until:
        raise InputError(f"{sub.email} paused their digests until {sub.paused_until.isoformat()}: not resent")
    subscription = store.subscriptions.find_subscription(session, subscriber_id=sub.id, newsletter=edition.newsletter)
    if subscription is not None and subscription.status != SubscriptionStatus.active:
        raise InputError(f"{sub.email} unsubscribed from {edition.newsletter}: not resent")
    if d.status not in RESENDABLE:
        why = "is still on its way" if d.status in ("queued", "sending", "deferred") else "never went out"
        raise InputError(f"{edition.key}: {sub.email}'s delivery is {d.status} and {why}: nothing to resend")


def resend_to_reader(settings, engine: Engine, subscriber_id: int, *, edition: str, day: str, now: datetime,
                     actor: str) -> str:
    """The console's resend (by reader id and edition key): `resend`'s one-line result."""
    try:
        when = date.fromisoformat(day.strip())
    except ValueError:
        raise InputError(f"date: expected YYYY-MM-DD, got {day!r}") from None
    with store.read_session(engine) as session:
        sub = store.subscribers.subscriber_by_id(session, subscriber_id=subscriber_id)
    if sub is None:
        raise InputError(f"no reader has id {subscriber_id}")
    return resend(settings, when, sub.email, now=now, edition=edition.strip() or None, actor=actor,
                  engine=engine).line()
