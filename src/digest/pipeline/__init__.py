"""The one place where store, selection, rendering, message building and sending meet.

    plan edition ─▶ select per subscriber ─▶ queued/skipped delivery rows (committed)
    read batch ─▶ render each variant once ─▶ personalize ─▶ build ─▶ claim (→ sending, committed)
    ─▶ send over the pool ─▶ record each outcome (committed per batch)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
import threading
from datetime import date, datetime, timedelta

from sqlalchemy.engine import Engine

from digest import render, store
from digest.clock import Clock
from digest.config import Settings
from digest.lock import exclusive
from digest.models import EditionStatus
from digest.pipeline.compose import Composer, batch_context, entries_from_selection
from digest.pipeline.deliver import EditionReport, EditionSender, Progress, hold_reason, log_transition
from digest.pipeline.plan import (EditionPlan, Selector, due_pages, edition_plans, edition_ranking, plan_edition,
                                  select_subscriber)
from digest.select import variant_key
from digest.send import Mailer

__all__ = ["DryRunLine", "EditionReport", "Progress", "dry_run_day", "edition_plans", "finish_editions", "plan_day",
           "retry_due", "run_day", "send_shard"]

UNFINISHED = ("queued", "sending", "deferred")


@dataclass(frozen=True, slots=True)
class DryRunLine:
    edition: str
    email: str
    variant: str
    items: int
    size: int
    skipped: str | None = None


async def run_day(engine: Engine, settings: Settings, mailer: Mailer, day: date, *, clock: Clock,
                  emails: Sequence[str] = (), limit: int | None = None, retry_deferred: bool = False,
                  retry_unknown: bool = False, progress: Progress | None = None, due_at: datetime | None = None,
                  slot: tuple[str, str] | None = None, periods: Sequence[str] = ("daily", "weekly"),
                  stop: threading.Event | None = None) -> list[EditionReport]:
    """Plan and send (or resume) the editions due on `day`: daily, and weekly for that weekday.

    `due_at` is when the daemon was due to send (the deadline counts from it); by hand it counts from now.
    `slot` = (timezone, send_at) limits the run to the subscribers of that local send time.
    Only one process sends per store at a time: the sender lock is held throughout.
    """
    progress = progress or Progress()
    with exclusive(engine, "sender", wait=settings.send.lock_wait_seconds):
        with store.session_scope(engine) as session:
            for delivery_id in store.recover_interrupted(session, now=clock()):
                log_transition("-", delivery_id, "", "unknown", reason="interrupted while sending")
        reports = []
        for plan, edition_id, planned in plan_day(engine, settings, day, clock=clock, emails=emails, due_at=due_at,
                                                  slot=slot, periods=periods, retry_unknown=retry_unknown):
            report = await _send_plan(engine, settings, mailer, plan, edition_id, clock=clock, emails=emails,
                                      limit=limit, retry_deferred=retry_deferred, progress=progress, stop=stop)
            report.planned = planned
            reports.append(report)
            if limit is not None:
                limit = max(0, limit - report.attempted)
    return reports


def plan_day(engine: Engine, settings: Settings, day: date, *, clock: Clock, emails: Sequence[str] = (),
             due_at: datetime | None = None, slot: tuple[str, str] | None = None,
             periods: Sequence[str] = ("daily", "weekly"), retry_unknown: bool = False
             ) -> list[tuple[EditionPlan, int, int]]:
    """Write the delivery rows of the editions due on `day`: (plan, edition id, rows planned now) for each.

    The embedded sender then sends them in this process; with workers, `digest.workers` enqueues shards.
    """
    deadline = (due_at or clock()) + timedelta(hours=settings.send.deadline_hours)
    found = []
    for plan in edition_plans(settings, day, slot=slot, periods=periods):
        edition_id, planned = plan_edition(engine, settings, plan, now=clock(), emails=emails, deadline=deadline)
        if not edition_id:
            continue
        if retry_unknown:
            _requeue_unknown(engine, plan.key, edition_id, emails, clock)
        found.append((plan, edition_id, planned))
    return found


async def send_shard(engine: Engine, settings: Settings, mailer: Mailer, edition_id: int, id_range: tuple[int, int],
                     *, claimed_by: str, clock: Clock, stop: threading.Event | None = None,
                     composers: dict[int, Composer] | None = None) -> EditionReport:
    """A worker's part of an edition: the sendable deliveries of subscribers `id_range` = (first, last).

    Same batches, claims, outcomes and deadline as the embedded sender, without its store-wide lock:
    claims are atomic, so workers never send the same row, and rows this job left in `sending` when an
    earlier run of it died become `unknown` first (never resent). `composers` keeps each edition's rendered
    variants across the shards one worker process sends, so premailer runs once per variant per worker.
    """
    with store.session_scope(engine) as session:
        for delivery_id in store.recover_interrupted(session, now=clock(), claimed_by=claimed_by):
            log_transition("-", delivery_id, "", "unknown", reason=f"{claimed_by} died while sending")
        edition = store.edition_by_id(session, edition_id=edition_id)
    if edition is None:
        return EditionReport(f"edition {edition_id} (gone)")
    composers = {} if composers is None else composers
    if edition_id not in composers:
        while len(composers) >= 4:
            composers.pop(next(iter(composers)))
        day = date.fromisoformat(edition.date)
        composers[edition_id] = Composer(settings, edition_plans(settings, day, periods=(str(edition.period),))[0])
    sender = EditionSender(engine, settings, mailer, composers[edition_id], edition_id, clock,
                           deadline=edition.deadline_at, stop=stop, claimed_by=claimed_by, id_range=id_range)
    try:
        await sender.run()
    finally:
        _finish(engine, sender.report, edition_id, clock)
    return sender.report


def finish_editions(engine: Engine, clock: Clock) -> list[str]:
    """Mark `done` the editions with nothing left to send: workers finish shards in any order, and an
    edition whose every row was skipped (or expired) never had a shard to finish it."""
    with store.read_session(engine) as session:
        sending = [(e.id, e.key) for e in store.editions_in_status(
            session, status=(EditionStatus.planned, EditionStatus.sending))]
    done = []
    for edition_id, key in sending:
        report = EditionReport(key)
        _finish(engine, report, edition_id, clock)
        if not any(report.counts.get(s) for s in UNFINISHED):
            done.append(key)
    return done


async def retry_due(engine: Engine, settings: Settings, mailer: Mailer, *, clock: Clock,
                    stop: threading.Event | None = None) -> list[EditionReport]:
    """Send the deferred deliveries whose retry time has come, in every edition (the daemon's retry job)."""
    with exclusive(engine, "sender", wait=settings.send.lock_wait_seconds):
        with store.read_session(engine) as session:
            editions = [(e.id, e.key, e.period, date.fromisoformat(e.date), e.deadline_at)
                        for e in store.editions_with_due_retries(session, now=clock())]
        reports = []
        for edition_id, key, period, day, deadline in editions:
            plan = next(p for p in edition_plans(settings, day, periods=(period,)))
            sender = EditionSender(engine, settings, mailer, Composer(settings, plan), edition_id, clock,
                                   deadline=deadline, stop=stop)
            try:
                await sender.run()
            finally:
                _finish(engine, sender.report, edition_id, clock)
            reports.append(sender.report)
    return reports


def _requeue_unknown(engine: Engine, key: str, edition_id: int, emails: Sequence[str], clock: Clock) -> None:
    with store.session_scope(engine) as session:
        ids = _subscriber_ids(session, emails)
        for delivery_id in store.requeue_unknown(session, edition_id=edition_id, now=clock(), subscriber_ids=ids):
            log_transition(key, delivery_id, "", "queued", reason="operator asked to retry unknown outcomes")


def _subscriber_ids(session, emails: Sequence[str]) -> list[int] | None:
    if not emails:
        return None
    return [s.id for e in emails if (s := store.find_subscriber(session, email=e))]


async def _send_plan(engine, settings, mailer, plan: EditionPlan, edition_id: int, *, clock: Clock,
                     emails: Sequence[str], limit: int | None, retry_deferred: bool,
                     progress: Progress, stop: threading.Event | None) -> EditionReport:
    with store.session_scope(engine) as session:
        subscriber_ids = _subscriber_ids(session, emails)
        pending = store.edition_counts(session, edition_id=edition_id)
        deadline = store.find_edition(session, key=plan.key).deadline_at
    progress.start(plan.key, pending.get("queued", 0) + pending.get("deferred", 0))
    sender = EditionSender(engine, settings, mailer, Composer(settings, plan), edition_id, clock, progress,
                           deadline=deadline, stop=stop)
    try:
        await sender.run(limit=limit, subscriber_ids=subscriber_ids, retry_deferred=retry_deferred)
    finally:
        progress.finish()
        _finish(engine, sender.report, edition_id, clock)
    return sender.report


def _finish(engine: Engine, report: EditionReport, edition_id: int, clock: Clock) -> None:
    with store.session_scope(engine) as session:
        report.counts = store.edition_counts(session, edition_id=edition_id)
        if not any(report.counts.get(s) for s in UNFINISHED):
            store.mark_edition(session, edition_id=edition_id, status=EditionStatus.done, now=clock())


def dry_run_day(engine: Engine, settings: Settings, day: date, *, clock: Clock, emails: Sequence[str] = (),
                on_line: Callable[[DryRunLine], None]) -> list[EditionReport]:
    """Everything a real run would send, rendered and built, with nothing written and nothing connected."""
    reports = []
    with store.read_session(engine) as session:
        for plan in edition_plans(settings, day):
            report = _dry_run_plan(session, settings, plan, clock=clock, emails=emails, on_line=on_line)
            if report.total:
                reports.append(report)
    return reports


def _dry_run_plan(session, settings: Settings, plan: EditionPlan, *, clock: Clock, emails: Sequence[str],
                  on_line: Callable[[DryRunLine], None]) -> EditionReport:
    report = EditionReport(plan.key)
    edition = store.find_edition(session, key=plan.key)
    edition_id = edition.id if edition else None
    composer = Composer(settings, plan)
    counts = {"would send": 0, "would skip": 0}
    inlined_before = render.inline_calls

    def emit(delivery_id, sub, vkey, entries, skipped=None):
        if skipped:
            counts["would skip"] += 1
            on_line(DryRunLine(plan.key, sub.email, "-", 0, 0, skipped))
            return
        msg = composer.compose(delivery_id=delivery_id, sub=sub, vkey=vkey, entries=entries, now=clock())
        counts["would send"] += 1
        on_line(DryRunLine(plan.key, sub.email, vkey, len(entries), len(msg.data)))

    if edition_id:
        pending = store.pending_deliveries(session, edition_id=edition_id, include_deferred=True)
        entries, subs = batch_context(session, pending, known=composer.variants)
        for d in pending:
            sub = subs[d.subscriber_id]
            if emails and sub.email not in emails:
                continue
            if reason := hold_reason(sub, plan.day):
                emit(d.id, sub, "", [], reason)
            else:
                emit(d.id, sub, d.variant_key or "", entries.get(d.variant_key, ()))
    ranking = edition_ranking(session, settings, plan)
    selector = Selector(settings, ranking)
    for subs in due_pages(session, plan, emails):
        done = store.planned_subscriber_ids(session, edition_id=edition_id, subscriber_ids=[s.id for s in subs]) \
            if edition_id else set()
        for sub, selection in select_subscriber(session, settings, ranking, [s for s in subs if s.id not in done],
                                                edition_id, selector):
            emit(0, sub, variant_key(sub.format, selection.picks), entries_from_selection(selection),
                 selection.skip_reason)
    report.counts = {k: v for k, v in counts.items() if v}
    report.variants = len(composer.variants)
    report.inlined = render.inline_calls - inlined_before
    return report
