"""The webhooks' deliveries (`webhookattempt`, `webhooklog`): claim what is due, record each HTTP attempt, the
counts and log `digest webhooks list` and `log` show.

A claim is an UPDATE guarded like the delivery claims (`status = 'pending' AND next_attempt_at <= now`) that
moves `next_attempt_at` to the end of a lease: two passes at once never post the same attempt, and an attempt
whose pass died is tried again once its lease is over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, update
from sqlmodel import Session, select

from digest.models import WebhookAttempt, WebhookEndpoint, WebhookEvent, WebhookLog, WebhookStatus
from digest.store.webhooks import _forget


@dataclass(frozen=True)
class Job:
    """One claimed attempt: where it goes, how it is signed, what it says."""
    attempt_id: int
    endpoint_id: int
    url: str
    secret: str
    event_id: int
    payload: dict
    attempts: int  # before this one


def _claim(session: Session, attempt_id: int, now: datetime, lease_until: datetime) -> bool:
    result = session.exec(update(WebhookAttempt).where(
        WebhookAttempt.id == attempt_id, WebhookAttempt.status == WebhookStatus.pending,
        WebhookAttempt.next_attempt_at <= now).values(next_attempt_at=lease_until))
    return bool(result.rowcount)


def claim_due(session: Session, *, now: datetime, lease_until: datetime, limit: int) -> list[Job]:
    """Claim up to `limit` pending attempts of enabled endpoints whose time has come, oldest first."""
    due = list(session.exec(
        select(WebhookAttempt.id).join(WebhookEndpoint, WebhookEndpoint.id == WebhookAttempt.endpoint_id)
        .where(WebhookAttempt.status == WebhookStatus.pending, WebhookAttempt.next_attempt_at <= now,
               WebhookEndpoint.enabled == True)  # noqa: E712
        .order_by(WebhookAttempt.next_attempt_at, WebhookAttempt.id).limit(limit)))
    return jobs(session, attempt_ids=[i for i in due if _claim(session, i, now, lease_until)])


def claim_one(session: Session, *, attempt_id: int, now: datetime, lease_until: datetime) -> Job | None:
    """`digest webhooks test`: this attempt, now, whether or not its endpoint is enabled."""
    found = jobs(session, attempt_ids=[attempt_id] if _claim(session, attempt_id, now, lease_until) else [])
    return found[0] if found else None


def jobs(session: Session, *, attempt_ids: Sequence[int]) -> list[Job]:
    if not attempt_ids:
        return []
    rows = session.exec(
        select(WebhookAttempt.id, WebhookAttempt.endpoint_id, WebhookEndpoint.url, WebhookEndpoint.secret,
               WebhookEvent.id, WebhookEvent.payload, WebhookAttempt.attempts)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookAttempt.endpoint_id)
        .join(WebhookEvent, WebhookEvent.id == WebhookAttempt.event_id)
        .where(WebhookAttempt.id.in_(list(attempt_ids))).order_by(WebhookAttempt.id))
    return [Job(*row) for row in rows]


def record_attempt(session: Session, *, job: Job, now: datetime, status_code: int | None, error: str | None,
                   duration_ms: int, delivered: bool, retry_at: datetime) -> bool:
    """One HTTP attempt: the attempt delivered or pending again at `retry_at`, and a log row; False when the
    attempt is gone (its endpoint was removed meanwhile)."""
    values = {"attempts": WebhookAttempt.attempts + 1, "last_status_code": status_code, "last_error": error}
    if delivered:
        values.update(status=WebhookStatus.delivered, delivered_at=now)
    else:
        values.update(next_attempt_at=retry_at)
    if not session.exec(update(WebhookAttempt).where(WebhookAttempt.id == job.attempt_id).values(**values)).rowcount:
        return False
    session.add(WebhookLog(attempt_id=job.attempt_id, endpoint_id=job.endpoint_id, at=now, status_code=status_code,
                           error=error, duration_ms=duration_ms))
    session.flush()
    return True


def endpoint_outcome(session: Session, *, endpoint_id: int, ok: bool, now: datetime) -> datetime | None:
    """A success clears the endpoint's run of failures; a failure starts one (if none): since when it fails."""
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        return None
    endpoint.failing_since = None if ok else (endpoint.failing_since or now)
    session.flush()
    return endpoint.failing_since


def disable(session: Session, *, endpoint_id: int, reason: str) -> int:
    """The endpoint disabled with `reason`; its pending attempts become `failed` (enabling puts them back)."""
    session.exec(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
                 .values(enabled=False, disabled_reason=reason[:500]))
    _forget(session)
    result = session.exec(update(WebhookAttempt).where(WebhookAttempt.endpoint_id == endpoint_id,
                                                       WebhookAttempt.status == WebhookStatus.pending)
                          .values(status=WebhookStatus.failed))
    return result.rowcount


def requeue_failed(session: Session, *, endpoint_id: int, now: datetime) -> int:
    """An endpoint enabled again: its failed attempts pending, due now."""
    result = session.exec(update(WebhookAttempt).where(WebhookAttempt.endpoint_id == endpoint_id,
                                                       WebhookAttempt.status == WebhookStatus.failed)
                          .values(status=WebhookStatus.pending, next_attempt_at=now))
    return result.rowcount


def prune_delivered(session: Session, *, before: datetime, limit: int = 500) -> int:
    """Up to `limit` attempts delivered before `before` deleted with their log, and their events once no attempt
    of them is left (a pass prunes a little each time: the index on delivered_at keeps it cheap). How many."""
    found = list(session.exec(select(WebhookAttempt.id, WebhookAttempt.event_id)
                              .where(WebhookAttempt.delivered_at < before).limit(limit)))
    if not found:
        return 0
    attempt_ids, event_ids = [a for a, _ in found], sorted({e for _, e in found})
    session.exec(delete(WebhookLog).where(WebhookLog.attempt_id.in_(attempt_ids)))
    session.exec(delete(WebhookAttempt).where(WebhookAttempt.id.in_(attempt_ids)))
    left = select(WebhookAttempt.id).where(WebhookAttempt.event_id == WebhookEvent.id).exists()
    session.exec(delete(WebhookEvent).where(WebhookEvent.id.in_(event_ids), ~left))
    return len(found)


def attempt_counts(session: Session) -> dict[int, dict[str, int]]:
    """endpoint id → {status: attempts}."""
    found: dict[int, dict[str, int]] = {}
    for endpoint_id, status, n in session.exec(
            select(WebhookAttempt.endpoint_id, WebhookAttempt.status, func.count())
            .group_by(WebhookAttempt.endpoint_id, WebhookAttempt.status)):
        found.setdefault(endpoint_id, {})[str(status)] = n
    return found


def attempt_of(session: Session, *, endpoint_id: int, event_id: int) -> WebhookAttempt | None:
    return session.exec(select(WebhookAttempt).where(WebhookAttempt.endpoint_id == endpoint_id,
                                                     WebhookAttempt.event_id == event_id)).first()


def log_rows(session: Session, *, endpoint_id: int | None, limit: int) -> list[tuple]:
    """The latest HTTP attempts, newest first: (log, event id, event type, attempt status)."""
    query = (select(WebhookLog, WebhookEvent.id, WebhookEvent.type, WebhookAttempt.status)
             .join(WebhookAttempt, WebhookAttempt.id == WebhookLog.attempt_id)
             .join(WebhookEvent, WebhookEvent.id == WebhookAttempt.event_id))
    if endpoint_id is not None:
        query = query.where(WebhookLog.endpoint_id == endpoint_id)
    return list(session.exec(query.order_by(WebhookLog.id.desc()).limit(limit)))
