"""The operator's way back after a bad relay: requeue an edition's failed, bounced or unknown rows of a time window,
and reactivate the readers those rows' bounces suppressed. Always an operator's decision, logged as one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.engine import Engine

from digest import store
from digest.errors import InputError
from digest.models import DeliveryStatus
from digest.pipeline.deliver import log_transition

log = logging.getLogger("digest.delivery")


@dataclass
class RequeueReport:
    edition: str
    moved: dict[str, list[int]] = field(default_factory=dict)  # status before → delivery ids now queued
    reactivated: list[str] = field(default_factory=list)  # readers back to active

    @property
    def total(self) -> int:
        return sum(len(ids) for ids in self.moved.values())


def requeue_deliveries(engine: Engine, day: date, *, statuses: Sequence[DeliveryStatus], now: datetime,
                       edition: str | None = None, since: datetime | None = None, until: datetime | None = None,
                       dry_run: bool = False) -> list[RequeueReport]:
    """failed | bounced | unknown → queued for the rows of `day`'s editions (or `edition`) whose outcome was
    recorded in [since, until); readers whose suppression came from one of those bounces become active again.
    `dry_run` writes nothing and says what it would do."""
    scope = store.read_session(engine) if dry_run else store.session_scope(engine)
    with scope as session:
        editions = [e for e in store.editions_for_date(session, date=day.isoformat()) if edition in (None, e.key)]
        if not editions:
            what = f"edition {edition}" if edition else "edition"
            raise InputError(f"no {what} on {day.isoformat()} (see `digest status --date {day.isoformat()}`)")
        reports = []
        for e in editions:
            moved, readers = store.requeue_outcomes(
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
