"""Sending one edition's deliveries in batches: read, compose, claim, send, record.

A batch is claimed (rows → `sending`, committed) only after all its messages are composed, so a template
or data error never strands rows; a crash after the claim leaves at most one batch for recovery to mark
`unknown`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.engine import Engine

from digest import render, store
from digest.config import Settings
from digest.errors import SendAborted
from digest.models import DeliveryStatus, EditionStatus, SubscriberRecord
from digest.pipeline.bounces import suppress_bounced
from digest.pipeline.compose import Composer, batch_context
from digest.send import Mailer, OutgoingMessage, SendResult, Verdict, classify, next_attempt_at

Clock = Callable[[], datetime]
SENDER_SIDE_LIMIT = 3  # this many 5.7.x policy rejections in one run stop the edition
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
        ids = store.expire_remaining(session, edition_id=edition_id, now=now)
    for delivery_id in ids:
        log_transition(key, delivery_id, "", "expired", reason="deadline passed")
    return ids


def hold_reason(sub: SubscriberRecord, day: date) -> str | None:
    """Why this edition must not go to `sub` now (status and pause, re-checked at send time), or None."""
    if sub.status != "active":
        return f"subscriber is {sub.status}"
    if sub.paused_until is not None and day < sub.paused_until:
        return f"subscriber paused until {sub.paused_until.isoformat()}"
    return None


@dataclass
class EditionReport:
    key: str
    counts: dict[str, int] = field(default_factory=dict)
    planned: int = 0
    attempted: int = 0
    variants: int = 0
    inlined: int = 0  # premailer runs: one per HTML content variant
    stopped: str | None = None
    interrupted: bool = False  # a stop signal ended the run between two batches
    expired: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def clean(self) -> bool:
        return (self.stopped is None and not self.interrupted
                and all(s in ("sent", "skipped") for s, n in self.counts.items() if n))


class Progress:
    """No-op progress; the CLI passes a Rich bar or plain log lines."""

    def start(self, key: str, total: int) -> None: ...

    def advance(self, n: int) -> None: ...

    def finish(self) -> None: ...


@dataclass
class EditionSender:
    engine: Engine
    settings: Settings
    mailer: Mailer
    composer: Composer
    edition_id: int
    clock: Clock
    progress: Progress = field(default_factory=Progress)
    deadline: datetime | None = None
    stop: threading.Event | None = None  # set by a signal handler: finish the batch, then return
    claimed_by: str | None = None  # a worker's job ("job:N"); None = the embedded sender
    id_range: tuple[int, int] | None = None  # a shard: only these (first, last) subscriber ids
    report: EditionReport = field(init=False)
    sender_side: int = 0

    def __post_init__(self) -> None:
        self.report = EditionReport(self.composer.plan.key)

    async def run(self, *, limit: int | None = None, subscriber_ids: Sequence[int] | None = None,
                  retry_deferred: bool = False) -> EditionReport:
        size = self.settings.send.batch_size
        inlined_before = render.inline_calls
        while limit is None or self.report.attempted < limit:
            if self.stop is not None and self.stop.is_set():
                self.report.interrupted = True
                break
            if self.deadline is not None and self.clock() > self.deadline:
                self._expire()
                break
            room = size if limit is None else min(size, limit - self.report.attempted)
            jobs = self._prepare(room, subscriber_ids, retry_deferred)
            if jobs is None:
                break
            await self._send(jobs)
            retry_deferred = False  # once: what is deferred again now waits for its backoff
        self.report.variants = len(self.composer.variants)
        self.report.inlined = render.inline_calls - inlined_before
        return self.report

    def _expire(self) -> None:
        self.report.expired = len(expire_edition(self.engine, self.edition_id, self.report.key, self.clock()))

    def _prepare(self, room: int, subscriber_ids, retry_deferred: bool) -> list | None:
        now = self.clock()
        with store.session_scope(self.engine) as session:
            batch = store.sendable_deliveries(session, edition_id=self.edition_id, size=room, now=now,
                                              retry_deferred=retry_deferred, subscriber_ids=subscriber_ids,
                                              id_range=self.id_range)
            if not batch:
                return None
            entries, subs = batch_context(session, batch, known=self.composer.variants)
            jobs = []
            for d in batch:
                sub = subs[d.subscriber_id]
                if reason := hold_reason(sub, self.composer.plan.day):
                    store.record_outcome(session, delivery_id=d.id, status=DeliveryStatus.skipped, now=now,
                                         error=f"{reason} at send time", expect=store.SENDABLE)
                    log_transition(self.report.key, d.id, sub.email, "skipped", reason=reason)
                    continue
                try:
                    msg = self.composer.compose(delivery_id=d.id, sub=sub, vkey=d.variant_key or "",
                                                entries=entries.get(d.variant_key, ()), now=now)
                except (UnicodeError, ValueError) as exc:  # this reader's data cannot make a message
                    reason = f"cannot build the message: {type(exc).__name__}: {exc}"[:500]
                    store.record_outcome(session, delivery_id=d.id, status=DeliveryStatus.failed, now=now,
                                         error=reason, expect=store.SENDABLE)
                    log_transition(self.report.key, d.id, sub.email, "failed", reason=reason)
                    continue
                jobs.append((d.id, msg))
            claimed = store.claim(session, message_ids={i: m.message_id for i, m in jobs}, now=now,
                                  claimed_by=self.claimed_by)
            store.mark_edition(session, edition_id=self.edition_id, status=EditionStatus.sending, now=now)
        jobs = [(i, m, claimed[i]) for i, m in jobs if i in claimed]
        for delivery_id, msg, _ in jobs:
            log_transition(self.report.key, delivery_id, msg.recipient, "sending", message_id=msg.message_id)
        return jobs

    async def _send(self, jobs: list[tuple[int, OutgoingMessage, int]]) -> None:
        results = [r if isinstance(r, SendResult) else
                   SendResult(None, f"{type(r).__name__}: {r}", "data", "internal error")  # outcome unknown
                   for r in await asyncio.gather(*(self.mailer.send(m) for _, m, _ in jobs),
                                                 return_exceptions=True)]
        self.report.attempted += len(jobs)
        stop = None
        now = self.clock()
        outcomes = []
        for (delivery_id, msg, attempts), result in zip(jobs, results):
            verdict = classify(result)
            outcomes.append(self._outcome(delivery_id, msg, attempts, result, verdict, now))
            stop = stop or self._should_stop(verdict)
        with store.session_scope(self.engine) as session:
            store.record_outcomes(session, outcomes=outcomes, now=now)
            suppress_bounced(session, [o["id"] for o in outcomes if o["status"] == "bounced"], now)
        self.progress.advance(len(jobs))
        if stop:
            self.report.stopped = stop
            raise SendAborted(stop)

    def _outcome(self, delivery_id: int, msg: OutgoingMessage, attempts: int, result: SendResult, verdict: Verdict,
                 now: datetime) -> dict:
        retry = None
        if verdict.status == DeliveryStatus.deferred:
            retry = next_attempt_at(now, attempts, base=self.settings.send.retry_base_seconds,
                                    cap=self.settings.send.retry_max_seconds)
        sent = verdict.status == DeliveryStatus.sent
        log_transition(self.report.key, delivery_id, msg.recipient, str(verdict.status), smtp_code=result.code,
                       reason=None if verdict.status == DeliveryStatus.sent else verdict.reason,
                       retry_at=retry.isoformat() if retry else None)
        if verdict.throttle:
            self.mailer.throttle()
        return {"id": delivery_id, "status": verdict.status, "smtp_code": result.code,
                "smtp_reply": (result.reply or "")[:500] or None, "error": None if sent else verdict.reason[:500],
                "next_attempt_at": retry, "sent_at": now if sent else None}

    def _should_stop(self, verdict: Verdict) -> str | None:
        if verdict.stop:
            return f"stopped: {verdict.reason}; fix the relay settings and run `digest send` again"
        if verdict.sender_side:
            self.sender_side += 1
            if self.sender_side >= SENDER_SIDE_LIMIT:
                return f"stopped after {self.sender_side} policy rejections ({verdict.reason}); check SPF/DKIM/DMARC"
        return None
