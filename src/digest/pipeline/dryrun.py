"""The dry run: the real send path (`send_day`: plan, compose, claim, send, record) on a scratch store,
through a mailer that only records, so a dry run and a real run can never drift apart.

The scratch store (`store.scratch`) keeps every write to itself; the sender lock is not taken, and the
mailer never connects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date

from sqlalchemy.engine import Engine

from digest import store
from digest.clock import Clock
from digest.config import Settings
from digest.lock import exclusive
from digest.pipeline.deliver import EditionReport, Progress
from digest.pipeline.plan import AWAITING_APPROVAL, edition_controls
from digest.pipeline.run import send_day
from digest.send import OutgoingMessage, SendResult
from digest.store.scratch import scratch_store


@dataclass(frozen=True, slots=True)
class DryRunLine:
    edition: str
    email: str
    variant: str
    items: int
    size: int
    skipped: str | None = None


@dataclass(frozen=True, slots=True)
class Recorded:
    """What one message would have been: its reader, content variant, articles (in order) and size."""

    recipient: str
    variant: str
    article_ids: tuple[int, ...]
    size: int


@dataclass
class DryRunMailer:
    """Records each message's recipient, variant, articles and size (not its bytes) and connects to nothing.
    `keep`: into `sent` (a caller's, e.g. a test's); the dry run's own keeps none (a million readers would be
    a million records) and hears of each one through `on_record` instead."""

    sent: list[Recorded] = field(default_factory=list)  # in the order they were sent
    keep: bool = True
    on_record: Callable[[Recorded], None] | None = None

    async def send(self, message: OutgoingMessage) -> SendResult:
        recorded = Recorded(message.recipient, message.variant, message.article_ids, len(message.data))
        if self.keep:
            self.sent.append(recorded)
        if self.on_record is not None:
            self.on_record(recorded)
        return SendResult(250, "2.0.0 dry run: recorded, not sent", "done")

    def throttle(self) -> None:
        pass

    async def close(self) -> None:
        pass


class _Lines(Progress):
    """The dry run's lines as they come, counted per edition: the send path starts each edition's progress
    before sending it, so each recorded message belongs to the edition started last."""

    def __init__(self, on_line: Callable[[DryRunLine], None]) -> None:
        self.on_line, self.key = on_line, ""
        self.counts: dict[str, dict[str, int]] = {}

    def start(self, key: str, total: int) -> None:
        self.key = key

    def skipped(self, key: str, email: str, reason: str) -> None:
        self._line(DryRunLine(key, email, "-", 0, 0, reason), "would skip")

    def recorded(self, r: Recorded) -> None:
        self._line(DryRunLine(self.key, r.recipient, r.variant, len(r.article_ids), r.size), "would send")

    def _line(self, line: DryRunLine, kind: str) -> None:
        counts = self.counts.setdefault(line.edition, {"would send": 0, "would skip": 0})
        counts[kind] += 1
        self.on_line(line)


def dry_run_day(engine: Engine, settings: Settings, day: date, *, clock: Clock, emails: Sequence[str] = (),
                on_line: Callable[[DryRunLine], None], mailer: DryRunMailer | None = None,
                newsletters: Sequence[str] | None = None) -> list[EditionReport]:
    """Everything a real `digest send` of `day` would send, rendered and built, with nothing written and
    nothing connected: one line per reader it would send to or skip, handed to `on_line` as it comes (none is
    kept, so the memory does not grow with the list), and a report per edition with any.
    An edition awaiting an editor's approval is shown as it would go out once approved, its report `held`."""
    mailer = mailer if mailer is not None else DryRunMailer(keep=False)
    gated = settings.send.approval == "required"
    if gated:
        settings = replace(settings, send=replace(settings.send, approval="none"))
    lines = _Lines(on_line)
    mailer.on_record = lines.recorded
    with scratch_store(engine, quiet=lambda: _no_sender(engine)) as scratch:
        reports = asyncio.run(send_day(scratch, settings, mailer, day, clock=clock, emails=emails,
                                       on_skip=lines.skipped, progress=lines, newsletters=newsletters))
    found = [_dry_report(report, lines.counts.get(report.key, {})) for report in reports]
    waiting = _unapproved(engine, [r.key for r in found]) if gated else set()
    for report in found:
        report.held = AWAITING_APPROVAL if report.key in waiting else None
    return [r for r in found if r.total]


def _unapproved(engine: Engine, keys: Sequence[str]) -> set[str]:
    """The editions among `keys` a real send would hold back: not approved, nothing of them planned yet."""
    with store.read_session(engine) as session:
        found = set()
        for key in keys:
            edition = store.editions.find_edition(session, key=key)
            if not edition_controls(session, key).approved and (
                    edition is None or not store.editions.has_deliveries(session, edition_id=edition.id)):
                found.add(key)
        return found


@contextmanager
def _no_sender(engine: Engine) -> Iterator[None]:
    """Held only if no sender or planner is at work (else LockBusy at once): nobody else inserts deliveries."""
    with exclusive(engine, "sender"), exclusive(engine, "planner"):
        yield


def _dry_report(real: EditionReport, counts: dict[str, int]) -> EditionReport:
    return EditionReport(real.key, counts={k: n for k, n in counts.items() if n}, variants=real.variants,
                         inlined=real.inlined)
