"""The store's schema: `digest db upgrade` (the migrations, and what the backend adds: procrastinate's queue
schema with workers) and `digest db current`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.operations.backends import backend_for
from digest.operations.common import engine_for


@dataclass(frozen=True)
class Upgrade:
    before: str | None
    after: str
    queue_schema: bool | None  # workers only: True applied now, False already there; None without workers

    def summary(self) -> str:
        return f"store at revision {self.after}" + (f" (was {self.before})" if self.before != self.after
                                                    else " (already there)")


def upgrade(settings: Settings, *, report: Callable[[str], None] = lambda line: None,
            engine: Engine | None = None) -> Upgrade:
    """Apply the migrations the store has not had yet, each named through `report` as it runs."""
    from digest.store.migrate import upgrade as migrate

    engine = engine or store.open_engine(settings.store.url, upgrading=True)
    before, after = migrate(engine, report=report, newsletter=settings.newsletter().key)
    return Upgrade(before, after, backend_for(settings).upgrade(engine))


def current_revision(settings: Settings, *, engine: Engine | None = None) -> str | None:
    from digest.store.migrate import current

    return current(engine or engine_for(settings))
