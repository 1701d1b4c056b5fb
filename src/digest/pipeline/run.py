"""Running the send path: plan the editions of a day, then send each through one `EditionSender`.

`run_day` is the embedded sender (under the store-wide sender lock), `send_shard` a worker's part of an
edition, `retry_due` the daemon's retry job; all three send through `send_edition`, which builds the sender
and always finishes the edition (its counts, and `done` once nothing is left to send).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy.engine import Engine

from digest import store
from digest.clock import Clock
from digest.config import Settings
from digest.lock import exclusive
from digest.models import WEEKDAYS, EditionStatus
from digest.pipeline.compose import Composer
from digest.pipeline.deliver import EditionReport, EditionSender, Progress
from digest.pipeline import planner
from digest.pipeline.plan import (AWAITING_APPROVAL, EditionPlan, OnSkip, awaiting_approval, edition_controls,
                                  edition_plan, edition_plans, open_edition, plan_edition)
from digest.pipeline.transitions import expire_edition, log_transition, mark_unknown
from digest.send import Mailer

UNFINISHED = ("queued", "sending", "deferred")


async def run_day(engine: Engine, settings: Settings, mailer: Mailer, day: date, *, clock: Clock,
                  emails: Sequence[str] = (), limit: int | None = None, retry_deferred: bool = False,
                  retry_unknown: bool = False, progress: Progress | None = None, due_at: datetime | None = None,
                  slot: tuple[str, str] | None = None, periods: Sequence[str] = ("daily", "weekly"),
                  stop: threading.Event | None = None, newsletters: Sequence[str] | None = None
                  ) -> list[EditionReport]:
    """Plan and send (or resume) the editions due on `day` of every newsletter (`newsletters`: those keys):
daily, and weekly for that weekday.

    `due_at` is when the daemon was due to send (the deadline counts from it); by hand it counts from now.
    `slot` = (timezone, send_at) limits the run to the subscribers of that local send time.
    Only one process sends per store at a time: the sender lock is held throughout.
    """
    with exclusive(engine, "sender", wait=settings.send.lock_wait_seconds):
        return await send_day(engine, settings, mailer, day, clock=clock, emails=emails, limit=limit,
                              retry_deferred=retry_deferred, retry_unknown=retry_unknown, progress=progress,
                              due_at=due_at, slot=slot, periods=periods, stop=stop, newsletters=newsletters)


async def send_day(engine: Engine, settings: Settings, mailer: Mailer, day: date, *, clock: Clock,
                   emails: Sequence[str] = (), limit: int | None = None, retry_deferred: bool = False,
                   retry_unknown: bool = False, progress: Progress | None = None, due_at: datetime | None = None,
                   slot: tuple[str, str] | None = None, periods: Sequence[str] = ("daily", "weekly"),
                   stop: threading.Event | None = None, on_skip: OnSkip | None = None,
                   newsletters: Sequence[str] | None = None) -> list[EditionReport]:
    """`run_day` without the lock: the caller holds it (or, for a dry run, works on a scratch store).
    `on_skip(edition, email, reason)` hears of each reader planned `skipped`, held or unbuildable."""
    progress = progress or Progress()
    mark_unknown(engine, clock, reason="interrupted while sending")
    held: list[str] = []
    overlap = planner.wanted(engine, settings, mailer)  # each edition planned by a child while it is sent
    planned_now = plan_day(engine, settings, day, clock=clock, emails=emails, due_at=due_at, slot=slot,
                           periods=periods, retry_unknown=retry_unknown, on_skip=on_skip, newsletters=newsletters,
                           held=held, open_only=overlap)
    reports = [EditionReport(key, held=AWAITING_APPROVAL) for key in held]
    for plan, edition_id, planned in planned_now:
        child = planner.PlanProcess(engine, settings, plan, edition_id, now=clock(), emails=emails,
                                    on_skip=on_skip) if overlap else None
        try:
            report = await _send_plan(engine, settings, mailer, plan, edition_id, clock=clock, emails=emails,
                                      limit=limit, retry_deferred=retry_deferred, progress=progress, stop=stop,
                                      on_skip=on_skip, child=child)
            report.planned = planned if child is None else child.finish()
        finally:
            if child is not None:
                child.settle(kill=True)  # only an exception gets here with the child still planning
        reports.append(report)
        if limit is not None:
            limit = max(0, limit - report.attempted)
    return reports


def plan_day(engine: Engine, settings: Settings, day: date, *, clock: Clock, emails: Sequence[str] = (),
             due_at: datetime | None = None, slot: tuple[str, str] | None = None,
             periods: Sequence[str] = ("daily", "weekly"), retry_unknown: bool = False,
             on_skip: OnSkip | None = None, newsletters: Sequence[str] | None = None,
             held: list[str] | None = None, open_only: bool = False) -> list[tuple[EditionPlan, int, int]]:
    """Write the delivery rows of the editions due on `day`: (plan, edition id, rows planned now) for each.
    An edition awaiting an editor's approval is planned not at all: its key goes into `held`. `open_only`:
    only their edition rows (0 planned), their deliveries left to a planning child (`pipeline.planner`).

    The embedded sender then sends them in this process; with workers, `digest.workers` enqueues shards.
    """
    deadline = (due_at or clock()) + timedelta(hours=settings.send.deadline_hours)
    found = []
    for plan in edition_plans(settings, day, slot=slot, periods=periods, newsletters=newsletters):
        if awaiting_approval(engine, settings, plan, now=clock(), emails=emails):
            if held is not None:
                held.append(plan.key)
            continue
        if open_only:
            edition_id, planned = open_edition(engine, plan, now=clock(), emails=emails, deadline=deadline), 0
        else:
            edition_id, planned = plan_edition(engine, settings, plan, now=clock(), emails=emails,
                                               deadline=deadline, on_skip=on_skip)
        if not edition_id:
            continue
        if retry_unknown:
            _requeue_unknown(engine, plan.key, edition_id, emails, clock)
        found.append((plan, edition_id, planned))
    return found


async def send_edition(engine: Engine, settings: Settings, mailer: Mailer, composer: Composer, edition_id: int, *,
                       clock: Clock, deadline: datetime | None, progress: Progress | None = None,
                       stop: threading.Event | None = None, claimed_by: str | None = None,
                       id_range: tuple[int, int] | None = None, limit: int | None = None,
                       subscriber_ids: Sequence[int] | None = None, retry_deferred: bool = False,
                       on_skip: OnSkip | None = None, child: planner.PlanProcess | None = None) -> EditionReport:
    """Send what is sendable of one edition, then finish it whatever happened (the counts, `done` if nothing is
    left): the one way the embedded sender, a worker's shard and the retry job send. `child`: the edition's
    planning child, still writing rows: waited for at the end (rows it planned past the deadline expire); if it
    failed or was killed, the edition is not marked done."""
    progress = progress or Progress()
    sender = EditionSender(engine, settings, mailer, composer, edition_id, clock, progress, deadline=deadline,
                           stop=stop, claimed_by=claimed_by, id_range=id_range, on_skip=on_skip,
                           planning=child.running if child is not None else None)
    try:
        await sender.run(limit=limit, subscriber_ids=subscriber_ids, retry_deferred=retry_deferred)
    finally:
        progress.finish()
        planned = child is None or child.settle()  # a run that ended early waits for the child, as before it
        if child is not None and deadline is not None and clock() > deadline:  # what it planned since expires too
            sender.report.expired += len(expire_edition(engine, edition_id, sender.report.key, clock()))
        finish_edition(engine, sender.report, edition_id, clock, may_finish=planned)
    return sender.report


def finish_edition(engine: Engine, report: EditionReport, edition_id: int, clock: Clock, *,
                   may_finish: bool = True) -> bool:
    """The edition's counts into `report`; the edition is `done` (and True returned) once nothing is queued,
    sending or deferred (and, unless `may_finish`, never: some readers may still be unplanned)."""
    with store.session_scope(engine) as session:
        report.counts = store.delivery_status.edition_counts(session, edition_id=edition_id)
        done = may_finish and not any(report.counts.get(s) for s in UNFINISHED)
        if done:
            store.webhooks.emit_edition_done(session, edition_id=edition_id, counts=report.counts, now=clock())
            store.editions.mark_edition(session, edition_id=edition_id, status=EditionStatus.done, now=clock())
    return done


async def send_shard(engine: Engine, settings: Settings, mailer: Mailer, edition_id: int, id_range: tuple[int, int],
                     *, claimed_by: str, clock: Clock, stop: threading.Event | None = None,
                     composers: dict[int, Composer] | None = None) -> EditionReport:
    """A worker's part of an edition: the sendable deliveries of subscribers `id_range` = (first, last).

    Same batches, claims, outcomes and deadline as the embedded sender, without its store-wide lock:
    claims are atomic, so workers never send the same row, and rows this job left in `sending` when an
    earlier run of it died become `unknown` first (never resent). `composers` keeps each edition's rendered
    variants across the shards one worker process sends, so the CSS is inlined once per variant per worker.
    """
    mark_unknown(engine, clock, claimed_by=claimed_by, reason=f"{claimed_by} died while sending")
    with store.read_session(engine) as session:
        edition = store.editions.edition_by_id(session, edition_id=edition_id)
    if edition is None:
        return EditionReport(f"edition {edition_id} (gone)")
    composers = {} if composers is None else composers
    if edition_id not in composers:
        while len(composers) >= 4:
            composers.pop(next(iter(composers)))
        composers[edition_id] = composer_for(engine, settings, plan_of(settings, edition))
    return await send_edition(engine, settings, mailer, composers[edition_id], edition_id, clock=clock,
                              deadline=edition.deadline_at, stop=stop, claimed_by=claimed_by, id_range=id_range)


def finish_editions(engine: Engine, clock: Clock) -> list[str]:
    """Mark `done` the editions with nothing left to send: workers finish shards in any order, and an
    edition whose every row was skipped (or expired) never had a shard to finish it."""
    with store.read_session(engine) as session:
        sending = [(e.id, e.key) for e in store.editions.editions_in_status(
            session, status=(EditionStatus.planned, EditionStatus.sending))]
    return [key for edition_id, key in sending if finish_edition(engine, EditionReport(key), edition_id, clock)]


async def retry_due(engine: Engine, settings: Settings, mailer: Mailer, *, clock: Clock,
                    stop: threading.Event | None = None) -> list[EditionReport]:
    """Send the deferred deliveries whose retry time has come, in every edition (the daemon's retry job)."""
    with exclusive(engine, "sender", wait=settings.send.lock_wait_seconds):
        with store.read_session(engine) as session:
            editions = [(e.id, plan_of(settings, e), e.deadline_at)
                        for e in store.editions.editions_with_due_retries(session, now=clock())]
        reports = []
        for edition_id, plan, deadline in editions:
            reports.append(await send_edition(engine, settings, mailer, composer_for(engine, settings, plan),
                                              edition_id, clock=clock, deadline=deadline, stop=stop))
    return reports


def composer_for(engine: Engine, settings: Settings, plan: EditionPlan) -> Composer:
    """The edition's Composer, with its editor's note."""
    with store.read_session(engine) as session:
        note = edition_controls(session, plan.key).note
    return Composer(settings, plan, note=note)


def plan_of(settings: Settings, edition) -> EditionPlan:
    """The plan of an edition that exists (its newsletter, date and period)."""
    return edition_plan(settings, edition.newsletter, date.fromisoformat(edition.date), str(edition.period))


def _requeue_unknown(engine: Engine, key: str, edition_id: int, emails: Sequence[str], clock: Clock) -> None:
    with store.session_scope(engine) as session:
        ids = _subscriber_ids(session, emails)
        for delivery_id in store.delivery_status.requeue_unknown(session, edition_id=edition_id, now=clock(), subscriber_ids=ids):
            log_transition(key, delivery_id, "", "queued", reason="operator asked to retry unknown outcomes")


def _subscriber_ids(session, emails: Sequence[str]) -> list[int] | None:
    if not emails:
        return None
    return [s.id for e in emails if (s := store.subscribers.find_subscriber(session, email=e))]


async def _send_plan(engine, settings, mailer, plan: EditionPlan, edition_id: int, *, clock: Clock,
                     emails: Sequence[str], limit: int | None, retry_deferred: bool,
                     progress: Progress, stop: threading.Event | None, on_skip: OnSkip | None,
                     child: planner.PlanProcess | None = None) -> EditionReport:
    with store.session_scope(engine) as session:
        subscriber_ids = _subscriber_ids(session, emails)
        pending = store.delivery_status.edition_counts(session, edition_id=edition_id)
        deadline = store.editions.find_edition(session, key=plan.key).deadline_at
        unplanned = _unplanned(session, plan, sum(pending.values()), emails) if child is not None else 0
    progress.start(plan.key, pending.get("queued", 0) + pending.get("deferred", 0) + unplanned)
    return await send_edition(engine, settings, mailer, composer_for(engine, settings, plan), edition_id, clock=clock,
                              deadline=deadline, progress=progress, stop=stop, limit=limit,
                              subscriber_ids=subscriber_ids, retry_deferred=retry_deferred, on_skip=on_skip,
                              child=child)


def _unplanned(session, plan: EditionPlan, planned: int, emails: Sequence[str]) -> int:
    """About how many readers the planning child has still to write (the progress total: due less planned)."""
    due = store.subscriptions.count_due(session, period=plan.period, weekday=WEEKDAYS[plan.day.weekday()],
                                        newsletter=plan.newsletter, every_reader=plan.every_reader, emails=emails,
                                        slot=plan.slot, day=plan.day)
    return max(0, due - planned)
