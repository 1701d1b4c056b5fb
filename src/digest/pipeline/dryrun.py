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
from digest.pipeline.deliver import EditionReport
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
    """Records each message's recipient, variant, articles and size (not its bytes) and connects to nothing."""

    sent: list[Recorded] = field(default_factory=list)  # in the order they were sent

    async def send(self, message: OutgoingMessage) -> SendResult:
        self.sent.append(Recorded(message.recipient, message.variant, message.article_ids, len(message.data)))
        return SendResult(250, "2.0.0 dry run: recorded, not sent", "done")

    def throttle(self) -> None:
        pass

    async def close(self) -> None:
        pass


def dry_run_day(engine: Engine, settings: Settings, day: date, *, clock: Clock, emails: Sequence[str] = (),
                on_line: Callable[[DryRunLine], None], mailer: DryRunMailer | None = None,
                newsletters: Sequence[str] | None = None) -> list[EditionReport]:
    """Everything a real `digest send` of `day` would send, rendered and built, with nothing written and
    nothing connected: one line per reader it would send to or skip, and a report per edition with any.
    An edition awaiting an editor's approval is shown as it would go out once approved, its report `held`."""
    mailer = mailer if mailer is not None else DryRunMailer()
    gated = settings.send.approval == "required"
    if gated:
        settings = replace(settings, send=replace(settings.send, approval="none"))
    lines: dict[str, list[DryRunLine]] = {}

    def skipped(key: str, email: str, reason: str) -> None:
        lines.setdefault(key, []).append(DryRunLine(key, email, "-", 0, 0, reason))

    with scratch_store(engine, quiet=lambda: _no_sender(engine)) as scratch:
        reports = asyncio.run(send_day(scratch, settings, mailer, day, clock=clock, emails=emails, on_skip=skipped,
                                       newsletters=newsletters))
    found, first = [], 0
    for report in reports:  # editions are sent one after the other, and the mailer tries every message
        sent = [DryRunLine(report.key, r.recipient, r.variant, len(r.article_ids), r.size)
                for r in mailer.sent[first:first + report.attempted]]
        first += report.attempted
        found.append(_dry_report(report, lines.get(report.key, []) + sent, on_line))
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


def _dry_report(real: EditionReport, lines: list[DryRunLine], on_line: Callable[[DryRunLine], None]) -> EditionReport:
    counts = {"would send": sum(line.skipped is None for line in lines),
              "would skip": sum(line.skipped is not None for line in lines)}
    for line in lines:
        on_line(line)
    return EditionReport(real.key, counts={k: n for k, n in counts.items() if n}, variants=real.variants,
                         inlined=real.inlined)
