"""Sending one edition's deliveries: read, compose, claim, send, record, streamed (`pipeline.stream`).

A batch is claimed (rows → `sending`, committed) only after all its messages are composed, so a template
or data error never strands rows; the rows claimed and not yet recorded never exceed `[send] batch_size`, so
a crash leaves at most one batch for recovery to mark `unknown`.

The run stops (SendAborted, one line naming the relay) instead of burning the list when the relay cannot be
reached (the mailer gave up connecting), refuses our credentials or TLS, rejects us on policy, or answers
(nearly) every message with one same failure (the circuit breaker, `pipeline.breaker`). Messages not yet
tried then are released as they were; the rows of the breaker's storm are requeued and their readers not
suppressed (unknown outcomes stay `unknown`: those messages may have been delivered).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Engine

from digest import store
from digest.clock import Clock
from digest.config import Settings
from digest.errors import SendAborted
from digest.models import DeliveryStatus, EditionStatus
from digest.pipeline.bounces import suppress_bounced
from digest.pipeline.breaker import Breaker, fault_key
from digest.pipeline.compose import Composer, batch_context
from digest.pipeline.plan import OnSkip
from digest.pipeline.stream import stream
from digest.pipeline.transitions import expire_edition, hold_reason, log_transition
from digest.send import Mailer, OutgoingMessage, SendResult, Verdict, classify, connect_problem, next_attempt_at

PAUSED = "paused"  # edition.held: an operator's pause, checked between batches
SENDER_SIDE_LIMIT = 3  # this many 5.7.x policy rejections in one run stop the edition
STORM_REQUEUED = (DeliveryStatus.failed, DeliveryStatus.bounced, DeliveryStatus.deferred)  # unknown stays
log = logging.getLogger("digest.delivery")


@dataclass
class EditionReport:
    key: str
    counts: dict[str, int] = field(default_factory=dict)
    planned: int = 0
    attempted: int = 0
    variants: int = 0
    inlined: int = 0  # CSS inlining runs (css-inline): one per HTML content variant
    stopped: str | None = None
    interrupted: bool = False  # a stop signal ended the run between two batches
    expired: int = 0
    held: str | None = None  # "awaiting_approval": nothing of it was planned ([send] approval = "required");
    # "paused": the sender stopped at an operator's pause (`stopped` says so and how to resume)

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
    on_skip: OnSkip | None = None  # hears of each reader held (`skipped`) or unbuildable (`failed`) at send time
    planning: Callable[[], bool] | None = None  # rows are still being planned (`pipeline.planner`): wait for them
    report: EditionReport = field(init=False)
    sender_side: int = 0
    breaker: Breaker = field(init=False)
    halt: str | None = field(init=False, default=None)  # why no further message is tried in this run
    last_id: int = field(init=False, default=0)  # the last delivery id read: retries walk up the ids once
    held: int = field(init=False, default=0)  # rows of the breaker's storm put back to `queued` in this run
    forgiven: set[int] = field(init=False, default_factory=set)  # ... and the ids already forgiven
    read: int = field(init=False, default=0)  # rows the last claim read
    forked_variants: int = field(init=False, default=0)  # variants the composing child rendered

    def __post_init__(self) -> None:
        self.report = EditionReport(self.composer.plan.key)
        s = self.settings.send
        self.breaker = Breaker(s.breaker_window, s.breaker_min_outcomes, s.breaker_threshold)

    @property
    def relay(self) -> str:
        return f"{self.settings.smtp.host}:{self.settings.smtp.port}"

    async def run(self, *, limit: int | None = None, subscriber_ids: Sequence[int] | None = None,
                  retry_deferred: bool = False) -> EditionReport:
        """Send until nothing is sendable, `limit` messages were tried, or the run ends (`pipeline.stream`)."""
        await stream(self, limit=limit, subscriber_ids=subscriber_ids, retry_deferred=retry_deferred)
        self.report.variants = max(len(self.composer.variants), self.forked_variants)
        if self.halt:
            self.report.stopped = self._stop_line(self.held)
            raise SendAborted(self.report.stopped)
        return self.report

    def _ending(self) -> bool:
        """Before each claim: a stop signal, the deadline or an operator's pause ends the run."""
        if self.stop is not None and self.stop.is_set():
            self.report.interrupted = True
            return True
        if self.deadline is not None and self.clock() > self.deadline:
            self._expire()
            return True
        if held := self._held():  # an operator paused it: what is left stays queued
            self.report.held, self.report.stopped = held
            return True
        return False

    def _held(self) -> tuple[str, str] | None:
        """("paused", the one line saying so and how to resume) when an operator paused the edition, else None.
        (An edition awaiting approval is not planned at all; one unapproved after it started goes on.)"""
        with store.read_session(self.engine) as session:
            held = store.edition_holds.hold_of(session, edition_id=self.edition_id)
        if held != PAUSED:
            return None
        plan = self.composer.plan
        weekly = " --weekly" if ":weekly:" in plan.key else ""
        return held, (f"{plan.key} is paused: what is left stays queued; resume it with `digest editions resume "
                      f"--date {plan.day.isoformat()} --newsletter {plan.newsletter}{weekly}`")

    def _expire(self) -> None:
        self.report.expired = len(expire_edition(self.engine, self.edition_id, self.report.key, self.clock()))

    def _prepare(self, room: int, subscriber_ids, retry_deferred: bool) -> list | None:
        """Read, compose and claim one batch (no await inside: the inlining counted is this run's own)."""
        now, inlined = self.clock(), self.composer.renderer.inlined
        with store.session_scope(self.engine) as session:
            batch = store.deliveries.sendable_deliveries(session, edition_id=self.edition_id, size=room, now=now,
                                              retry_deferred=retry_deferred, subscriber_ids=subscriber_ids,
                                              id_range=self.id_range, after_id=self.last_id)
            if not batch:
                return None
            self.last_id, self.read = batch[-1].id, len(batch)  # what this run defers again is not retried in it
            before = {d.id: (d.status, d.message_id, d.claimed_by) for d in batch}
            entries, subs = batch_context(session, batch, known=self.composer.variants)
            jobs = [(d.id, msg) for d in batch
                    if (msg := self._compose(session, d, subs[d.subscriber_id], entries, now)) is not None]
            claimed = store.deliveries.claim(session, message_ids={i: m.message_id for i, m in jobs}, now=now,
                                  claimed_by=self.claimed_by)
            store.editions.mark_edition(session, edition_id=self.edition_id, status=EditionStatus.sending, now=now)
        self.report.inlined += self.composer.renderer.inlined - inlined
        jobs = [(i, m, claimed[i], before[i]) for i, m in jobs if i in claimed]
        for delivery_id, msg, *_ in jobs:
            log_transition(self.report.key, delivery_id, msg.recipient, "sending", message_id=msg.message_id)
        return jobs

    def _compose(self, session, d, sub, entries, now: datetime) -> OutgoingMessage | None:
        """The reader's message, or None when they are held (`skipped`) or their data cannot make one (`failed`)."""
        if reason := hold_reason(sub, self.composer.plan.day):
            store.deliveries.record_outcome(session, delivery_id=d.id, status=DeliveryStatus.skipped, now=now,
                                 error=f"{reason} at send time", expect=store.deliveries.SENDABLE)
            log_transition(self.report.key, d.id, sub.email, "skipped", reason=reason)
            self._skipped(sub.email, reason)
            return None
        try:
            return self.composer.compose(delivery_id=d.id, sub=sub, vkey=d.variant_key or "",
                                         entries=entries.get(d.variant_key, ()), now=now)
        except (UnicodeError, ValueError) as exc:  # this reader's data cannot make a message
            reason = f"cannot build the message: {type(exc).__name__}: {exc}"[:500]
            store.deliveries.record_outcome(session, delivery_id=d.id, status=DeliveryStatus.failed, now=now,
                                 error=reason, expect=store.deliveries.SENDABLE)
            store.webhooks.emit_outcomes(session, outcomes=[{"id": d.id, "status": "failed", "error": reason}], now=now)
            log_transition(self.report.key, d.id, sub.email, "failed", reason=reason)
            self._skipped(sub.email, reason)
            return None

    def _skipped(self, email: str, reason: str) -> None:
        if self.on_skip is not None:
            self.on_skip(self.report.key, email, reason)

    def _record(self, done: list[tuple[tuple, SendResult | None]]) -> None:
        """Commit the outcomes of `done` ((job, result) pairs); untried messages go back as they were."""
        self.report.attempted += sum(r is not None and not r.untried for _, r in done)
        now = self.clock()
        storm = set(self.breaker.storm())
        outcomes, held, untouched = [], [], []
        for (delivery_id, msg, attempts, before), result in done:
            if result is None or result.untried:  # nothing of it left: as it was, the attempt not counted
                untouched.append((delivery_id, *before))
                continue
            verdict = classify(result)
            outcome = self._outcome(delivery_id, msg, attempts, result, verdict, now, held=delivery_id in storm)
            (held if outcome["status"] == DeliveryStatus.queued else outcomes).append(outcome)
        with store.session_scope(self.engine) as session:
            store.deliveries.record_outcomes(session, outcomes=outcomes + held, now=now)
            store.webhooks.emit_outcomes(session, outcomes=outcomes, now=now)  # the outbox: a SELECT when none wants it
            store.deliveries.release(session, rows=untouched)
            suppress_bounced(session, [o["id"] for o in outcomes if o["status"] == "bounced"], now)
            if storm:  # the breaker tripped: what it counted in earlier commits is forgiven too
                self._forgive(session, storm - {o["id"] for o in outcomes + held} - self.forgiven, now)
                self.forgiven |= storm
        self.held += len(held)
        self.progress.advance(len(done) - len(untouched))

    async def _attempt(self, delivery_id: int, msg: OutgoingMessage) -> SendResult | None:
        """Send one message unless the run has been halted meanwhile (None: not tried), and judge it at once."""
        if self.halt:
            return None
        try:
            result = await self.mailer.send(msg)
        except Exception as exc:  # noqa: BLE001 — the outcome is unknown: never resent by itself
            result = SendResult(None, f"{type(exc).__name__}: {exc}", "data", "internal error")
        self._observe(delivery_id, result)
        return result

    def _observe(self, delivery_id: int, result: SendResult) -> None:
        if result.untried:
            self.halt = self.halt or self._relay_line(result)
            return
        verdict = classify(result)
        if verdict.throttle:
            self.mailer.throttle()
        stop = self._should_stop(verdict)
        if self.breaker.observe(delivery_id, fault_key(result, verdict), f"{result.code or ''} {result.reply}".strip()):
            stop = stop or "breaker"
        self.halt = self.halt or stop

    def _relay_line(self, result: SendResult) -> str:
        if result.phase == "connect":
            return f"relay {self.relay}: {connect_problem(result, self.settings.smtp.timeout)}"
        return (f"relay {self.relay}: stopped: {classify(result).reason}; fix the relay settings and run "
                "`digest send` again")

    def _forgive(self, session, earlier: set[int], now: datetime) -> None:
        """The breaker tripped: rows of the storm recorded in earlier batches go back to `queued`, and the readers
        their bounces suppressed are reactivated (unknown ones stay: those messages may have been delivered)."""
        reason = f"requeued: the circuit breaker found the relay {self.relay} failing every message"
        moved, readers = store.delivery_status.requeue_outcomes(
            session, edition_id=self.edition_id, statuses=STORM_REQUEUED, requeueable=STORM_REQUEUED,
            now=now, reason=reason, delivery_ids=sorted(earlier)) if earlier else ({}, [])
        for status, ids in moved.items():
            for delivery_id in ids:
                log_transition(self.report.key, delivery_id, "", "queued", reason=f"{reason} (was {status})")
        for _, email in readers:
            log.warning("%s: %s reactivated: the bounce that suppressed them came from the relay's storm",
                        self.report.key, email)

    def _stop_line(self, held: int) -> str:
        if self.halt != "breaker":
            return self.halt
        (n, of), kind = self.breaker.share(), self.breaker.tripped.split()[0]
        with store.read_session(self.engine) as session:
            queued = store.delivery_status.edition_counts(session, edition_id=self.edition_id).get("queued", 0)
        fate = ("they stay unknown (the relay may have taken them: check its log, then `digest deliveries requeue "
                "--status unknown`)" if kind == "unknown" else "they were requeued and nobody was suppressed")
        return (f"relay {self.relay}: {n} of the last {of} messages {kind}: {self.breaker.sample}; circuit breaker "
                f"tripped, {self.report.key} paused: {fate}; {queued} deliveries queued; fix the relay, then run "
                "`digest send` again")

    def _outcome(self, delivery_id: int, msg: OutgoingMessage, attempts: int, result: SendResult, verdict: Verdict,
                 now: datetime, *, held: bool = False) -> dict:
        """The row's new state. `held`: part of the breaker's storm, so back to `queued`, nobody blamed (an
        unknown outcome stays unknown)."""
        status, reason = verdict.status, verdict.reason
        if held and status != DeliveryStatus.unknown:
            status, reason = DeliveryStatus.queued, f"held by the circuit breaker (relay {self.relay}): {reason}"
        retry = None
        if status == DeliveryStatus.deferred:
            retry = next_attempt_at(now, attempts, base=self.settings.send.retry_base_seconds,
                                    cap=self.settings.send.retry_max_seconds)
        sent = status == DeliveryStatus.sent
        log_transition(self.report.key, delivery_id, msg.recipient, str(status), smtp_code=result.code,
                       reason=None if sent else reason, retry_at=retry.isoformat() if retry else None)
        return {"id": delivery_id, "status": status, "smtp_code": result.code,
                "smtp_reply": (result.reply or "")[:500] or None, "error": None if sent else reason[:500],
                "next_attempt_at": retry, "sent_at": now if sent else None}

    def _should_stop(self, verdict: Verdict) -> str | None:
        if verdict.stop:
            return f"relay {self.relay}: stopped: {verdict.reason}; fix the relay settings and run `digest send` again"
        if verdict.sender_side:
            self.sender_side += 1
            if self.sender_side >= SENDER_SIDE_LIMIT:
                return f"stopped after {self.sender_side} policy rejections ({verdict.reason}); check SPF/DKIM/DMARC"
        return None
