"""An operator's actions on one edition, from the console and `digest editions pause | resume | retry-deferred |
retry-unknown`: pause (the sender stops between two batches, what is left stays queued), resume (the daemon's
next tick, or with workers the cluster's tick, sends what is left, while before the deadline), the deferred
deliveries due now (the retry job sends them at its next tick), and the `unknown` ones back to `queued` (some of
those readers may get the message twice: the relay may have taken it).

An edition is named by its key (`morning:2026-11-27`), its URL slug (`morning-2026-11-27`), or a date (with
`newsletter` and `weekly` as `digest editions pin` names it, or alone when that date has one edition). Each
returns an `ActionResult` whose `line` says what was done and what happens next.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.errors import InputError
from digest.models import EditionStatus
from digest.operations.archive import edition_key
from digest.operations.common import engine_for
from digest.pipeline.transitions import log_transition

PAUSED = "paused"
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
log = logging.getLogger("digest.delivery")


class NoEdition(InputError):
    """No edition has that name (the console answers 404)."""


@dataclass(frozen=True)
class ActionResult:
    edition: str
    action: str  # pause | resume | retry-deferred | retry-unknown
    count: int  # deliveries moved (0 for pause and resume)
    line: str  # one line: what was done, what happens next

    def doc(self) -> dict:
        return {"edition": self.edition, "action": self.action, "count": self.count, "line": self.line}


def find(session, settings: Settings, key: str, newsletter: str | None = None, weekly: bool = False):
    """The edition named by `key` (key, slug or date; see the module's docstring); InputError naming it."""
    if ISO_DATE.fullmatch(key) and (newsletter is not None or weekly):  # as `digest editions pin` names it
        key = settings.newsletter(newsletter).edition_key(date.fromisoformat(key), "weekly" if weekly else "daily")
    elif ISO_DATE.fullmatch(key):
        found = store.editions.editions_for_date(session, date=key)
        if len(found) > 1:
            raise InputError(f"{key} has several editions ({', '.join(e.key for e in found)}): name one with "
                             "--newsletter (and --weekly), or give its key")
        if not found:
            raise NoEdition(f"no edition on {key} (see `digest status`)")
        return found[0]
    name = key if ":" in key else edition_key(key, settings.newsletter().key)
    edition = store.editions.find_edition(session, key=name)
    if edition is None:
        raise NoEdition(f"no edition {name} (see `digest status`)")
    return edition


def _how(edition) -> str:
    weekly = " --weekly" if ":weekly:" in edition.key else ""
    return f"--date {edition.date} --newsletter {edition.newsletter}{weekly}"


def pause(settings: Settings, key: str, *, now: datetime, engine: Engine | None = None,
          newsletter: str | None = None, weekly: bool = False) -> ActionResult:
    """The edition held `paused`: a sender stops before its next batch (the one in flight is recorded)."""
    with store.session_scope(engine or engine_for(settings)) as session:
        edition = find(session, settings, key, newsletter, weekly)
        if edition.status == EditionStatus.done:
            raise InputError(f"{edition.key} is done: nothing is left to pause")
        if edition.held == PAUSED:
            return ActionResult(edition.key, "pause", 0, f"{edition.key} is paused already")
        if edition.held is not None:
            raise InputError(f"{edition.key} is {edition.held.replace('_', ' ')}: nothing of it is sent until an "
                             "editor approves it")
        if not store.edition_holds.set_hold(session, edition_id=edition.id, held=PAUSED):
            raise InputError(f"{edition.key} has just finished or been held: see `digest status`")
        line = (f"{edition.key} paused: a sender stops after the batch in flight, what is left stays queued; "
                f"resume with `digest editions resume {_how(edition)}`")
    log.warning("%s: paused by the operator", edition.key)
    return ActionResult(edition.key, "pause", 0, line)


def resume(settings: Settings, key: str, *, now: datetime, engine: Engine | None = None,
           newsletter: str | None = None, weekly: bool = False) -> ActionResult:
    """The pause lifted: the daemon's next tick (the workers' tick) sends what is left, before the deadline."""
    with store.session_scope(engine or engine_for(settings)) as session:
        edition = find(session, settings, key, newsletter, weekly)
        if not store.edition_holds.clear_hold(session, edition_id=edition.id, held=PAUSED):
            state = (edition.held or str(edition.status)).replace("_", " ")
            raise InputError(f"{edition.key} is not paused (it is {state})")
        deadline = f" (deadline {edition.deadline_at:%Y-%m-%d %H:%M} UTC)" if edition.deadline_at else ""
        line = (f"{edition.key} resumed: the daemon's next tick sends what is left{deadline}, or run "
                f"`digest send {_how(edition)}` now")
    log.warning("%s: resumed by the operator", edition.key)
    return ActionResult(edition.key, "resume", 0, line)


def retry_deferred(settings: Settings, key: str, *, now: datetime, engine: Engine | None = None,
                   newsletter: str | None = None, weekly: bool = False) -> ActionResult:
    """The edition's deferred deliveries due now: the daemon's retry job sends them at its next tick."""
    with store.session_scope(engine or engine_for(settings)) as session:
        edition = find(session, settings, key, newsletter, weekly)
        ids = store.edition_holds.deferred_due_now(session, edition_id=edition.id, now=now)
    for delivery_id in ids:
        log_transition(edition.key, delivery_id, "", "deferred", reason="operator made its retry due now",
                       retry_at=now.isoformat())
    line = (f"{edition.key}: {len(ids)} deferred deliveries due now; the daemon's retry job sends them at its "
            "next tick" + (" once the edition is resumed" if edition.held else ""))
    return ActionResult(edition.key, "retry-deferred", len(ids), line)


def retry_unknown(settings: Settings, key: str, *, now: datetime, engine: Engine | None = None,
                  newsletter: str | None = None, weekly: bool = False) -> ActionResult:
    """The edition's `unknown` deliveries back to `queued` (an operator's decision: some may arrive twice)."""
    with store.session_scope(engine or engine_for(settings)) as session:
        edition = find(session, settings, key, newsletter, weekly)
        ids = store.delivery_status.requeue_unknown(session, edition_id=edition.id, now=now)
        if ids:
            store.edition_holds.reopen(session, edition_id=edition.id)
    for delivery_id in ids:
        log_transition(edition.key, delivery_id, "", "queued", reason="operator asked to retry unknown outcomes")
    if ids:
        log.warning("%s: the operator requeued %d unknown deliveries (some may arrive twice)", edition.key, len(ids))
    line = (f"{edition.key}: {len(ids)} unknown deliveries requeued (some of these readers may get the message "
            f"twice); the daemon's next tick sends them before the deadline, or run `digest send {_how(edition)}`")
    return ActionResult(edition.key, "retry-unknown", len(ids), line)
