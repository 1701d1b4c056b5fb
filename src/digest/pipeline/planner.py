"""Planning on another core while the sender sends: `[send] plan_process`.

On PostgreSQL, planning an edition (ranking once, then a selection and a delivery row per due reader, a page
of 1,000 committed at a time) took as long as sending it, and the sender waited for all of it. With
`plan_process` on, the edition's row is made first (`plan.open_edition`), then a forked child writes its
delivery rows (`plan.plan_deliveries`) over its own store connection while the sender sends the pages already
committed: the producer finds nothing sendable only for as long as the child is still planning
(`PlanProcess.running`), and reads once more after it has finished, so no row is left behind.

Nothing of the send path's safety changes: a row is sent only once a committed claim moved it from `queued`
to `sending`, whichever process wrote it; a page is committed whole or not at all (a child killed mid-page
leaves none of it, and the next run plans those readers: the unique (edition, subscriber) pair and
`planned_subscriber_ids` keep it to one delivery each). The child dies with its parent (PR_SET_PDEATHSIG).
A run that ends early (a stop signal, the deadline, a pause, a halted relay) waits for it, as it would have
waited for planning before sending (what it planned past the deadline expires then); only an exception in the
parent (e.g. KeyboardInterrupt) kills it, and the edition is then not marked done. What it heard (readers
planned `skipped`) comes back when it ends and is replayed to the caller's `on_skip`; a child that fails
fails the run once what was claimed is recorded.

`auto` is on for PostgreSQL only: on SQLite one writer at a time made the two processes wait for each other
(20,000 readers: 22.0 s in one process, 34.2 s with the child). A dry run never forks: its scratch store (one
PostgreSQL connection in a transaction rolled back, or one handle on a SQLite copy) cannot be shared.
"""

from __future__ import annotations

import multiprocessing
import signal
import traceback
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.engine import Engine

from digest.config import Settings
from digest.pipeline.plan import EditionPlan, OnSkip, plan_deliveries
from digest.pipeline.producer import _die_with_parent


def wanted(engine, settings: Settings, mailer=None) -> bool:
    """Plan in a child for this run? `on`, or `auto` on PostgreSQL; only with a real SMTP mailer (never in a dry
    run: its scratch store is one connection, or one SQLite handle, no child may share), an engine and fork."""
    from digest.send import SmtpMailer

    mode = settings.send.plan_process
    if (mode == "off" or not isinstance(engine, Engine) or not isinstance(mailer, SmtpMailer)
            or "fork" not in multiprocessing.get_all_start_methods()):
        return False
    return mode == "on" or engine.dialect.name == "postgresql"


class PlanError(RuntimeError):
    """The planning child failed: its traceback's last lines."""


class PlanProcess:
    """One edition's delivery rows, written by a forked child; `finish` gives how many and replays its skips."""

    def __init__(self, engine: Engine, settings: Settings, plan: EditionPlan, edition_id: int, *, now: datetime,
                 emails: Sequence[str] = (), on_skip: OnSkip | None = None) -> None:
        self.on_skip = on_skip
        context = multiprocessing.get_context("fork")
        self.results, sender = context.Pipe(duplex=False)
        self.process = context.Process(target=_child, args=(sender, engine, settings, plan, edition_id, now,
                                                            tuple(emails), on_skip is not None), daemon=True)
        self.process.start()
        sender.close()  # the child's end: EOF here once it is gone
        self.outcome: tuple | None = None

    def running(self) -> bool:
        """Still planning: no outcome sent yet and the child alive (after False, every row it wrote is committed)."""
        return self.outcome is None and not self.results.poll() and self.process.is_alive()

    def settle(self, *, kill: bool = False) -> bool:
        """Wait for the child's end and read its outcome (`kill`: kill it first if it is still planning; its
        open page rolls back). True when it planned every due reader; only then may the edition be done."""
        if self.outcome is None:
            if kill and self.running():
                self.process.kill()
                self.outcome = ("stopped", 0, [])
            else:
                try:
                    self.outcome = self.results.recv()
                except EOFError:
                    self.outcome = ("error", f"the planning child died (exit code {self.process.exitcode})")
            self.process.join()
            self.results.close()
        return self.outcome[0] == "planned"

    def finish(self) -> int:
        """The rows the child planned (0 if it was stopped), its skips replayed to `on_skip`; PlanError if it
        failed."""
        self.settle()
        kind, value, *heard = self.outcome
        if kind == "error":
            raise PlanError(value)
        for args in heard[0] if self.on_skip else ():
            self.on_skip(*args)
        self.on_skip = None  # replayed once
        return value


def _child(results, engine: Engine, settings: Settings, plan: EditionPlan, edition_id: int, now: datetime,
           emails: tuple[str, ...], hear: bool) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides how a stop ends the run
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent()
    engine.dispose(close=False)  # the parent's pooled connections stay the parent's
    heard: list[tuple[str, str, str]] = []
    try:
        planned = plan_deliveries(engine, settings, plan, edition_id, now=now, emails=emails,
                                  on_skip=(lambda *args: heard.append(args)) if hear else None)
        results.send(("planned", planned, heard))
    except BaseException as exc:  # noqa: BLE001 — told to the parent, which fails the run
        lines = traceback.format_exception(exc)
        results.send(("error", f"planning {plan.key} failed: {''.join(lines[-3:]).strip()}"))
    finally:
        results.close()
