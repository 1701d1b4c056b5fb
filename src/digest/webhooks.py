"""Outbound webhooks' delivery pass: POST the outbox's due attempts, signed per Standard Webhooks.

Each attempt is claimed first (`store.webhook_outbox.claim_due`: two passes never post one attempt at once),
posted with httpx (`[webhooks] timeout_seconds`), and recorded: a 2xx answer delivers it; anything else (another
status, a timeout, a refused connection) is logged and retried after `retry_base_seconds · 2^(n−1)` (capped at
`retry_max_seconds`, plus up to 25% jitter). An endpoint that has failed without one success for
`disable_after_hours` is disabled with the reason (`digest webhooks enable` brings it and its attempts back).

Headers: `webhook-id` (`msg_<event id>`, the same on every retry, so a receiver can drop duplicates),
`webhook-timestamp` (the attempt's time, Unix seconds) and `webhook-signature` (`v1,<base64 HMAC-SHA256>` by the
`standardwebhooks` library, with the endpoint's `whsec_` secret). The daemon and the workers run a pass
continually; the send path only writes the outbox (`store.webhooks.emit`), so a webhook never slows a send.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy.engine import Engine
from standardwebhooks import Webhook

from digest import store
from digest.config import Settings
from digest.store.webhook_outbox import Job

log = logging.getLogger("digest.webhooks")
CONCURRENCY = 8  # POSTs in flight at once in one pass
USER_AGENT = "digest-webhooks/1"


@dataclass(frozen=True)
class Answer:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass
class PassReport:
    delivered: int = 0
    retrying: int = 0  # failed this time, to be tried again
    disabled: list[str] = field(default_factory=list)  # the endpoints this pass disabled: "URL: reason"
    answers: list[tuple[int, Answer]] = field(default_factory=list)  # (attempt id, what the endpoint said)


def message_id(event_id: int) -> str:
    return f"msg_{event_id}"


def signed_request(job: Job, now: datetime) -> tuple[bytes, dict[str, str]]:
    """The body and the headers of one attempt (signed at `now`)."""
    body = json.dumps(job.payload, separators=(",", ":"), ensure_ascii=False)
    msg_id = message_id(job.event_id)
    signature = Webhook(job.secret).sign(msg_id, now, body)
    return body.encode(), {"webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())),
                           "webhook-signature": signature, "content-type": "application/json",
                           "user-agent": USER_AGENT}


def retry_at(now: datetime, attempts: int, settings: Settings, rng: random.Random | None = None) -> datetime:
    """After the `attempts`-th failure: base·2^(attempts−1) seconds, capped, plus up to 25% jitter."""
    w = settings.webhooks
    delay = min(max(1.0, w.retry_max_seconds), max(1.0, w.retry_base_seconds) * 2 ** max(0, attempts - 1))
    return now + timedelta(seconds=delay * (1 + (rng or random).random() / 4))


async def post(client: httpx.AsyncClient, job: Job, now: datetime) -> Answer:
    started = time.monotonic()
    try:
        body, headers = signed_request(job, now)
        response = await client.post(job.url, content=body, headers=headers)
    except Exception as exc:  # noqa: BLE001 — a timeout, a refused connection, a URL httpx rejects: one failure
        error = f"{type(exc).__name__}: {exc}".strip().rstrip(":") or type(exc).__name__
        return Answer(None, error[:500], _ms(started))
    error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}: {response.text[:200]}"
    return Answer(response.status_code, error, _ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


async def post_all(settings: Settings, jobs: list[Job], now: datetime) -> list[Answer]:
    gate = asyncio.Semaphore(CONCURRENCY)
    timeout = httpx.Timeout(max(0.1, settings.webhooks.timeout_seconds))

    async def one(client, job):
        async with gate:
            return await post(client, job, now)

    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
        return list(await asyncio.gather(*(one(client, j) for j in jobs)))


def lease_until(settings: Settings, now: datetime) -> datetime:
    """How long a claim holds: long enough for a pass's POSTs, short enough to retry after a crash."""
    return now + timedelta(seconds=max(60.0, 4 * settings.webhooks.timeout_seconds))


async def deliver_due(engine: Engine, settings: Settings, *, now: datetime, limit: int | None = None) -> PassReport:
    """One delivery pass: claim what is due, post it, record each answer."""
    with store.session_scope(engine) as session:
        kept = timedelta(days=max(0.0, settings.webhooks.keep_days))
        store.webhook_outbox.prune_delivered(session, before=now - kept)
        jobs = store.webhook_outbox.claim_due(session, now=now, lease_until=lease_until(settings, now),
                                              limit=limit or max(1, settings.webhooks.batch_size))
    return await deliver_jobs(engine, settings, jobs, now=now)


async def deliver_jobs(engine: Engine, settings: Settings, jobs: list[Job], *, now: datetime) -> PassReport:
    report = PassReport()
    if not jobs:
        return report
    answers = await post_all(settings, jobs, now)
    with store.session_scope(engine) as session:
        for job, answer in zip(jobs, answers):
            record(session, settings, job, answer, now, report)
    return report


def record(session, settings: Settings, job: Job, answer: Answer, now: datetime, report: PassReport) -> None:
    """One answer into the store: the attempt delivered or rescheduled, and its endpoint disabled when it has
    failed for too long."""
    report.answers.append((job.attempt_id, answer))
    if not store.webhook_outbox.record_attempt(session, job=job, now=now, status_code=answer.status_code,
                                               error=answer.error, duration_ms=answer.duration_ms,
                                               delivered=answer.ok, retry_at=retry_at(now, job.attempts + 1, settings)):
        return  # removed meanwhile
    since = store.webhook_outbox.endpoint_outcome(session, endpoint_id=job.endpoint_id, ok=answer.ok, now=now)
    if answer.ok:
        report.delivered += 1
        return
    report.retrying += 1
    log.warning("webhook %s %s to %s: %s (attempt %d)", message_id(job.event_id), job.payload.get("type"),
                job.url, answer.error, job.attempts + 1)
    limit = timedelta(hours=settings.webhooks.disable_after_hours)
    if since is not None and now - since >= limit and not any(d.startswith(f"{job.url}:") for d in report.disabled):
        reason = (f"disabled {now:%Y-%m-%d %H:%M} UTC: failing since {since:%Y-%m-%d %H:%M} UTC "
                  f"(over {settings.webhooks.disable_after_hours:g} h); last: {answer.error}")
        store.webhook_outbox.disable(session, endpoint_id=job.endpoint_id, reason=reason)
        report.disabled.append(f"{job.url}: {reason}")
        log.error("webhook endpoint %s %s", job.url, reason)
