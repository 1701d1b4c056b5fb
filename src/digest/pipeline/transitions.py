"""What happens to delivery rows outside a batch, and the one log line every transition writes.

`log_transition` is the structured line per row; `expire_edition` turns what is left at the deadline into
`expired`; `mark_unknown` turns rows left `sending` by a process or job that stopped into `unknown` (their
message may have gone out: never resent by itself); `hold_reason` says why a reader is not sent to now.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from sqlalchemy.engine import Engine

from digest import store
from digest.clock import Clock
from digest.models import SubscriberRecord

log = logging.getLogger("digest.delivery")


def log_transition(edition: str, delivery_id: int, email: str, status: str, **fields) -> None:
    """One structured line per delivery transition (the CLI renders it as text or JSON)."""
    if log.isEnabledFor(logging.INFO):
        extra = {"edition": edition, "delivery_id": delivery_id, "email": email, "status": status, **fields}
        detail = " ".join(f"{k}={v}" for k, v in fields.items() if v not in (None, ""))
        log.info("%s %s %s %s", edition, email, status, detail, extra={"fields": extra})


def expire_edition(engine: Engine, edition_id: int, key: str, now: datetime) -> list[int]:
    """The edition's deadline passed: what is still queued or deferred becomes `expired` (never a row in flight)."""
    with store.session_scope(engine) as session:
        ids = store.delivery_status.expire_remaining(session, edition_id=edition_id, now=now)
    for delivery_id in ids:
        log_transition(key, delivery_id, "", "expired", reason="deadline passed")
    return ids


def mark_unknown(engine: Engine, clock: Clock, *, reason: str, claimed_by: str | None = None) -> list[int]:
    """Rows left `sending` (by `claimed_by`, or by anyone) become `unknown`, each logged with `reason`."""
    with store.session_scope(engine) as session:
        ids = store.deliveries.recover_interrupted(session, now=clock(), claimed_by=claimed_by)
    for delivery_id in ids:
        log_transition("-", delivery_id, "", "unknown", reason=reason)
    return ids


def hold_reason(sub: SubscriberRecord, day: date) -> str | None:
    """Why this edition must not go to `sub` now (status and pause, re-checked at send time), or None."""
    if sub.status != "active":
        return f"subscriber is {sub.status}"
    if sub.paused_until is not None and day < sub.paused_until:
        return f"subscriber paused until {sub.paused_until.isoformat()}"
    return None
