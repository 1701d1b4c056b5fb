"""The status of a date: `digest status`. Per edition its state, deadline, oldest pending delivery, counts per
status, the failure reasons and the problem deliveries; with workers, the queue's shards and live workers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.errors import InputError
from digest.operations.backends import backend_for
from digest.operations.common import engine_for


@dataclass(frozen=True)
class FailureReason:
    status: str
    smtp_code: int | None
    error: str | None
    count: int


@dataclass(frozen=True)
class Problem:
    email: str
    status: str
    smtp_code: int | None
    error: str | None


@dataclass
class EditionSummary:
    """One edition of the date (the field order is the JSON's)."""

    edition: str
    status: str
    deadline: datetime | None
    oldest_pending: datetime | None
    reasons: list[FailureReason]
    counts: dict[str, int]
    problems: list[Problem]
    total: int = 0
    newsletter: str = ""  # its [[newsletters]] key
    held: str | None = None  # "paused" | "awaiting_approval" (then `status` says so too), or None

    def doc(self) -> dict:
        """`asdict(self)` built directly: asdict deep-copies every value, a tenth of the console's edition JSON."""
        return {"edition": self.edition, "status": self.status, "deadline": self.deadline,
                "oldest_pending": self.oldest_pending,
                "reasons": [{"status": r.status, "smtp_code": r.smtp_code, "error": r.error, "count": r.count}
                            for r in self.reasons],
                "counts": dict(self.counts),
                "problems": [{"email": p.email, "status": p.status, "smtp_code": p.smtp_code, "error": p.error}
                             for p in self.problems],
                "total": self.total, "newsletter": self.newsletter, "held": self.held}


@dataclass
class DayStatus:
    """Every edition of one date, the counts summed over them, and the queue (workers only, else None)."""

    date: str
    editions: list[EditionSummary]
    queue: dict | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def doc(self) -> dict:
        """The document `digest status --json` prints."""
        doc = {"date": self.date, "edition": ",".join(e.edition for e in self.editions), "counts": self.counts,
               "total": sum(self.counts.values()), "editions": [e.doc() for e in self.editions]}
        if self.queue is not None:
            doc["queue"] = self.queue
        return doc


def day_status(settings: Settings, day: date, *, latest: bool = False, engine: Engine | None = None,
               newsletter: str | None = None, brief: bool = False) -> DayStatus:
    """The editions of `day` (of `newsletter` only, if given); with `latest`, a day without editions falls back
    to the latest date that has some. `brief`: without each edition's failure reasons and problem rows (the
    console's overview page shows neither; they read every failed row of the edition)."""
    key = None if newsletter is None else settings.newsletter(newsletter).key
    engine = engine or engine_for(settings, readonly=True)
    with store.read_session(engine) as session:
        when = day.isoformat()
        editions = store.editions.editions_for_date(session, date=when, newsletter=key)
        if not editions and latest and (found := store.editions.latest_edition_date(session, newsletter=key)):
            when, editions = found, store.editions.editions_for_date(session, date=found, newsletter=key)
        if not editions:
            raise InputError(f"no edition for {when}" + (f" of newsletter {key}" if key else ""))
        summaries = [_summary(session, e, brief=brief) for e in editions]
    status = DayStatus(when, summaries, queue=backend_for(settings).queue_status(engine))
    for summary in summaries:
        for key, n in summary.counts.items():
            status.counts[key] = status.counts.get(key, 0) + n
    return status


def state(edition) -> str:
    """An edition's state as shown: its hold (paused, awaiting_approval) while it has one and is not done, else
    its status."""
    return edition.held if edition.held and edition.status != "done" else str(edition.status)


def _summary(session, edition, *, counts: dict[str, int] | None = None, reasons: list[tuple] | None = None,
             brief: bool = False) -> EditionSummary:
    """`counts`, `reasons`: the edition's `edition_counts`, `failure_reasons` when the caller has them already
    (the console's edition page reads both in one pass); `brief`: reasons and problems left empty."""
    counts = store.delivery_status.edition_counts(session, edition_id=edition.id) if counts is None else counts
    if reasons is None:
        reasons = [] if brief else store.delivery_status.failure_reasons(session, edition_id=edition.id)
    problems = [] if brief else store.delivery_status.edition_problems(session, edition_id=edition.id)
    return EditionSummary(
        edition.key, state(edition), edition.deadline_at, store.delivery_status.oldest_pending(session, edition_id=edition.id),
        [FailureReason(*row) for row in reasons], counts, [Problem(*row) for row in problems], sum(counts.values()),
        edition.newsletter, edition.held)
