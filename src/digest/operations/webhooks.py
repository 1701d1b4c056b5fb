"""Outbound webhooks, the operator's side: add an endpoint (its secret made here and shown once), list, remove,
enable again, send a test event, show the attempts' log, and one delivery pass (`deliver_pending`; the daemon and
the workers run it continually). The events themselves are written by `store.webhooks.emit` where each change
is made; the pass is `digest.webhooks`.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.errors import InputError
from digest.models import TEST_EVENT, WEBHOOK_EVENTS
from digest.operations.common import engine_for
from digest.webhooks import PassReport, deliver_due, deliver_jobs, lease_until

SECRET_BYTES = 24
log = logging.getLogger("digest.webhooks")


@dataclass(frozen=True)
class Endpoint:
    id: int
    url: str
    name: str
    events: tuple[str, ...]
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    counts: dict  # attempts per status: pending, delivered, failed

    def doc(self) -> dict:
        return {"id": self.id, "url": self.url, "name": self.name, "events": list(self.events),
                "enabled": self.enabled, "disabled_reason": self.disabled_reason,
                "failing_since": self.failing_since.isoformat() if self.failing_since else None,
                "attempts": dict(self.counts)}


@dataclass(frozen=True)
class Added:
    endpoint: Endpoint
    secret: str  # shown once: the receiver verifies the signatures with it


@dataclass(frozen=True)
class Tested:
    url: str
    status_code: int | None
    error: str | None


@dataclass(frozen=True)
class LogLine:
    at: datetime
    endpoint_id: int
    event: str  # "msg_12 delivery.sent"
    status_code: int | None
    error: str | None
    state: str  # the attempt's status now: pending, delivered, failed
    duration_ms: int


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def check_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"webhook URL: expected http:// or https:// and a host, got {url[:80]!r}")
    return url.strip()


def parse_events(events: str | Sequence[str]) -> list[str]:
    names = [e.strip() for e in (events.split(",") if isinstance(events, str) else events) if e.strip()]
    unknown = [e for e in names if e not in WEBHOOK_EVENTS]
    if unknown or not names:
        what = f"unknown event {unknown[0][:60]!r}" if unknown else "none given"
        raise InputError(f"--events: {what} (known: {', '.join(WEBHOOK_EVENTS)})")
    return list(dict.fromkeys(names))


def add_endpoint(settings: Settings, url: str, *, events: str | Sequence[str], name: str = "", now: datetime,
                 engine: Engine | None = None) -> Added:
    """`digest webhooks add URL --events a,b`: the endpoint and its new secret (stored as given: it signs)."""
    url, names, secret = check_url(url), parse_events(events), new_secret()
    with store.session_scope(engine or engine_for(settings)) as session:
        row = store.webhooks.add_endpoint(session, url=url, name=name.strip()[:200], secret=secret, events=names,
                                          now=now)
        return Added(_endpoint(row, {}), secret)


def _endpoint(row, counts: dict) -> Endpoint:
    return Endpoint(row.id, row.url, row.name, tuple(row.events), row.enabled, row.disabled_reason,
                    row.failing_since, counts)


def list_endpoints(settings: Settings, *, engine: Engine | None = None) -> list[Endpoint]:
    """Every endpoint, its attempts counted by status; never the secret."""
    with store.read_session(engine or engine_for(settings)) as session:
        counts = store.webhook_outbox.attempt_counts(session)
        return [_endpoint(e, counts.get(e.id, {})) for e in store.webhooks.endpoints(session)]


def _find(session, ref: str):
    row = store.webhooks.find_endpoint(session, ref=ref.strip())
    if row is None:
        raise InputError(f"no webhook endpoint {ref[:80]!r} (see `digest webhooks list`)")
    return row


def remove_endpoint(settings: Settings, ref: str, *, engine: Engine | None = None) -> str:
    """`digest webhooks remove URL|ID`: the endpoint and its attempts go; a one-line result."""
    with store.session_scope(engine or engine_for(settings)) as session:
        row = _find(session, ref)
        store.webhooks.delete_endpoint(session, endpoint_id=row.id)
    return f"removed webhook endpoint {row.id} ({row.url})"


def enable_endpoint(settings: Settings, ref: str, *, now: datetime, engine: Engine | None = None) -> str:
    """`digest webhooks enable URL|ID`: a disabled endpoint back, and the attempts its disabling failed due now."""
    with store.session_scope(engine or engine_for(settings)) as session:
        row = _find(session, ref)
        was = row.enabled
        store.webhooks.set_enabled(session, endpoint_id=row.id, enabled=True)
        requeued = store.webhook_outbox.requeue_failed(session, endpoint_id=row.id, now=now)
    state = "was already enabled" if was else "enabled"
    return f"webhook endpoint {row.id} ({row.url}) {state}; {requeued} failed attempts due again"


def send_test(settings: Settings, ref: str, *, now: datetime, engine: Engine | None = None) -> Tested:
    """`digest webhooks test URL|ID`: one `webhook.test` event to that endpoint, posted now (and logged)."""
    engine = engine or engine_for(settings)
    with store.session_scope(engine) as session:
        row = _find(session, ref)
        event_id = store.webhooks.emit(session, type=TEST_EVENT, now=now, endpoint_ids=[row.id],
                                       data={"endpoint_id": row.id, "url": row.url, "name": row.name})
    with store.session_scope(engine) as session:
        attempt = store.webhook_outbox.attempt_of(session, endpoint_id=row.id, event_id=event_id)
        job = store.webhook_outbox.claim_one(session, attempt_id=attempt.id, now=now,
                                             lease_until=lease_until(settings, now))
    report = asyncio.run(deliver_jobs(engine, settings, [job], now=now)) if job else PassReport()
    answer = report.answers[0][1] if report.answers else None
    return Tested(row.url, answer.status_code if answer else None, answer.error if answer else "not sent")


def deliver_pending(settings: Settings, *, now: datetime, engine: Engine | None = None,
                    limit: int | None = None) -> PassReport:
    """`digest webhooks deliver`: one pass over the due attempts (the daemon runs one every few seconds)."""
    return asyncio.run(deliver_due(engine or engine_for(settings), settings, now=now, limit=limit))


def attempt_log(settings: Settings, ref: str | None = None, *, limit: int = 50,
                engine: Engine | None = None) -> list[LogLine]:
    """`digest webhooks log [URL|ID]`: the latest HTTP attempts, newest first, with what each endpoint said."""
    with store.read_session(engine or engine_for(settings)) as session:
        endpoint_id = _find(session, ref).id if ref else None
        rows = store.webhook_outbox.log_rows(session, endpoint_id=endpoint_id, limit=max(1, limit))
        return [LogLine(log.at, log.endpoint_id, f"msg_{event_id} {kind}", log.status_code, log.error, str(state),
                        log.duration_ms) for log, event_id, kind, state in rows]


def webhooks_job(engine: Engine, settings: Settings, clock) -> Callable[[], PassReport | None]:
    """The daemon's job (every `[webhooks] interval_seconds`): one pass; a failure is one log line, and the next
    run tries again."""
    def job() -> PassReport | None:
        try:
            return deliver_pending(settings, now=clock(), engine=engine)
        except Exception as exc:  # noqa: BLE001 — the store gone, a bug: the daemon goes on
            log.error("webhooks pass stopped: %s: %s", type(exc).__name__, " ".join(str(exc).split()))
            return None

    return job
