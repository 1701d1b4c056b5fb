"""Retention: delete finished editions older than N days with their delivery rows (`digest db prune`).

Deliveries are what "never repeat" reads, so the floor is the longest selection window (a weekly edition
looks back 7 days) plus a day. Each chunk is its own transaction: a prune stopped halfway leaves whole rows,
and the edition row goes last, so running it again finishes the job.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import NamedTuple

from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.errors import InputError
from digest.operations.common import engine_for

OnEdition = Callable[[str, int, int], None]


class PruneReport(NamedTuple):
    """Editions, deliveries and items deleted (with a dry run: the editions and deliveries that would be)."""

    editions: int
    deliveries: int
    items: int


def min_keep_days(settings: Settings) -> int:
    longest = max(settings.selection.window_hours, settings.selection.weekly_window_hours)
    return int(-(-longest // 24)) + 1


def prune_editions(settings: Settings, *, today: date, keep_days: int, dry_run: bool = False,
                   on_edition: OnEdition = lambda key, deliveries, items: None,
                   engine: Engine | None = None) -> PruneReport:
    """`digest db prune`: `prune` on the store of the settings."""
    return prune(engine or engine_for(settings), settings, today=today, keep_days=keep_days, dry_run=dry_run,
                 on_edition=on_edition)


def prune(engine: Engine, settings: Settings, *, today: date, keep_days: int, dry_run: bool = False,
          on_edition: OnEdition = lambda key, deliveries, items: None) -> PruneReport:
    """Delete the editions dated before today − keep_days that have nothing left to send, one `on_edition`
    (key, deliveries, items) each."""
    floor = min_keep_days(settings)
    if keep_days < floor:
        raise InputError(f"--keep-days: at least {floor}: selection looks back {floor - 1} days for what a "
                         "reader already got")
    before = (today - timedelta(days=keep_days)).isoformat()
    with store.read_session(engine) as session:
        editions = [(e.id, e.key) for e in store.editions.prunable_editions(session, before=before)]
        if dry_run:
            sizes = [sum(store.delivery_status.edition_counts(session, edition_id=i).values()) for i, _ in editions]
            for (_, key), n in zip(editions, sizes):
                on_edition(key, n, 0)
            return PruneReport(len(editions), sum(sizes), 0)
    totals = [0, 0, 0]
    for edition_id, key in editions:
        deleted = [0, 0]
        while True:
            with store.session_scope(engine) as session:
                rows, items = store.editions.delete_edition_rows(session, edition_id=edition_id)
            if not rows:
                break
            deleted[0] += rows
            deleted[1] += items
        with store.session_scope(engine) as session:
            store.editions.delete_edition(session, edition_id=edition_id)
        on_edition(key, *deleted)
        totals = [totals[0] + 1, totals[1] + deleted[0], totals[2] + deleted[1]]
    return PruneReport(*totals)
