"""`digest deliveries requeue`, the operator's way back after a bad relay: requeue an edition's failed, bounced or unknown rows of a time window,
and reactivate the readers those rows' bounces suppressed. Always an operator's decision, logged as one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from sqlalchemy.engine import Engine

from digest import store
from digest.errors import InputError, UsageError
from digest.models import DeliveryStatus
from digest.operations.common import engine_for
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
