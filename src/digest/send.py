"""Sending: the `Mailer` protocol, the pooled SMTP mailer, the recording mailer, and `classify()`.

`classify()` is pure: it turns what the relay said (or failed to say) into a delivery status, following
the SMTP section of the email-standards guide.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from digest.config import SmtpSettings
from digest.models import DeliveryStatus

ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
UNTRIED_PHASES = ("connect", "tls", "auth")


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    envelope_from: str
    recipient: str
    message_id: str
    data: bytes


@dataclass(frozen=True, slots=True)
class SendResult:
    """What happened to one message. `phase` is where it ended: connect, auth, tls, mail, rcpt, data, done."""

    code: int | None
    reply: str
    phase: str
    error: str | None = None  # "timeout", "disconnected", "refused", ... when there was no SMTP reply

    @property
    def untried(self) -> bool:
        """Nothing of the message left this process: no connection, or TLS or AUTH failed before MAIL FROM."""
        return self.phase in UNTRIED_PHASES


@dataclass(frozen=True, slots=True)
class Verdict:
    status: DeliveryStatus
    reason: str
    throttle: bool = False  # slow the whole stream
    stop: bool = False  # a problem on our side (auth, TLS): stop the edition, do not burn the list
    sender_side: bool = False  # 5.7.x policy: not the subscriber's fault; several in a row stop the edition


def enhanced_code(reply: str) -> tuple[int, int, int] | None:
    match = ENHANCED.match(reply or "")
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def classify(result: SendResult) -> Verdict:
    code, phase = result.code, result.phase
    if result.error is not None:
        return _classify_no_reply(result)
    if code is not None and 200 <= code < 300 and phase == "done":
        return Verdict(DeliveryStatus.sent, f"{code} {result.reply}".strip())
    enhanced = enhanced_code(result.reply)
    text = f"{code} {result.reply}".strip()
    if code == 535 or (phase == "auth" and code and code >= 500):
        return Verdict(DeliveryStatus.deferred, f"authentication failed: {text}", stop=True)
    if code is not None and 400 <= code < 500:
        throttle = code == 421 or (enhanced is not None and enhanced[1] == 7)
        return Verdict(DeliveryStatus.deferred, text, throttle=throttle)
    if enhanced is not None and enhanced[1] == 7:
        return Verdict(DeliveryStatus.failed, f"rejected by policy (sender side): {text}", sender_side=True)
    if (enhanced is not None and enhanced[1] == 1) or (enhanced is None and phase == "rcpt" and code in (550, 551, 553)):
        return Verdict(DeliveryStatus.bounced, f"bad mailbox: {text}")
    return Verdict(DeliveryStatus.failed, text or "rejected")


def _classify_no_reply(result: SendResult) -> Verdict:
    detail = f"{result.error} during {result.phase}: {result.reply}".strip().rstrip(":")
    if result.phase == "data":
        return Verdict(DeliveryStatus.unknown, f"{detail} (the relay may have accepted it; not resent)")
    if result.phase in ("tls", "auth"):
        return Verdict(DeliveryStatus.deferred, detail, stop=True)
    return Verdict(DeliveryStatus.deferred, detail)


def connect_problem(result: SendResult, timeout: float) -> str:
    """A connection failure in a few words: `connection refused`, `no greeting within 30 s`, `421 …`."""
    if result.code is not None:
        return f"{result.code} {result.reply}".strip()
    return {"refused": "connection refused",
            "timeout": f"no answer within {timeout:g} s ({result.reply or 'timeout'})",
            "closed": "connection closed before the greeting"}.get(result.error or "", result.reply or "cannot connect")


def next_attempt_at(now: datetime, attempts: int, *, base: float, cap: float,
                    rng: random.Random | None = None) -> datetime:
    """Exponential backoff with jitter: base·2^(attempts−1) seconds, capped, plus up to 25%."""
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return now + timedelta(seconds=delay * (1 + (rng or random).random() / 4))


class Mailer(Protocol):
    async def send(self, message: OutgoingMessage) -> SendResult: ...

    def throttle(self) -> None: ...

    async def close(self) -> None: ...


@dataclass
class RecordingMailer:
    """Keeps messages in memory and connects to nothing: dry runs and tests."""

    messages: list[OutgoingMessage] = field(default_factory=list)

    async def send(self, message: OutgoingMessage) -> SendResult:
        self.messages.append(message)
        return SendResult(250, "2.0.0 recorded, not sent", "done")

    def throttle(self) -> None:
        pass

    async def close(self) -> None:
        pass


class TokenBucket:
    """`rate` messages per second on average (0 = unlimited); `throttle()` halves it, successes recover it."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.target = self.rate = rate
        self.clock = clock
        self.tokens = 1.0
        self.stamp = clock()
        self.lock = asyncio.Lock()

    async def take(self) -> None:
        if self.rate <= 0:
            return
        async with self.lock:
            now = self.clock()
            self.tokens = min(max(1.0, self.rate), self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens < 1:
                await asyncio.sleep((1 - self.tokens) / self.rate)
                self.tokens, self.stamp = 1.0, self.clock()
            self.tokens -= 1

    def throttle(self, floor: float = 1.0, fallback: float = 20.0) -> None:
        self.rate = max(floor, (self.rate or fallback) / 2)

    def recover(self) -> None:
        if self.target and self.rate < self.target:
            self.rate = min(self.target, self.rate * 1.05)
        elif not self.target and self.rate:
            self.rate = self.rate * 1.05 if self.rate < 1000 else 0.0


@dataclass
class _Connection:
    smtp: object
    used: int = 0


class SmtpMailer:
    """aiosmtplib over a pool of reused connections, with a rate limit shared by all of them."""

    def __init__(self, settings: SmtpSettings, *, local_hostname: str, bucket: TokenBucket | None = None) -> None:
        self.settings = settings
        self.local_hostname = settings.local_hostname or local_hostname
        self.bucket = bucket or TokenBucket(settings.rate_per_second)  # workers pass one shared through PostgreSQL
        self.slots = asyncio.Semaphore(settings.connections)
        self.idle: list[_Connection] = []
        self.opened = 0  # connections opened, for tests and the summary
        self.fatal: SendResult | None = None  # auth or TLS failure: nothing more is tried
        self.down: SendResult | None = None  # `connect_failures` failed connects in a row: nothing more is tried
        self.failures = 0  # failed connects in a row
        self.retry_at = 0.0  # monotonic time before which no new connection is tried (the pool's backoff)
        self.probe = asyncio.Lock()  # after a failed connect, one connection tries at a time

    async def send(self, message: OutgoingMessage) -> SendResult:
        if self.fatal or self.down:
            return self.fatal or self.down
        await self.bucket.take()
        async with self.slots:
            conn = self.idle.pop() if self.idle else None
            reused = conn is not None
            if conn is None:
                conn, failure = await self._connect()
                if failure:
                    return failure
            result, usable = await self._transact(conn, message)
            if reused and result.error == "disconnected" and result.phase in ("mail", "rcpt"):
                await self._quit(conn)  # a stale idle connection (no DATA was sent): one fresh try
                conn, failure = await self._connect()
                if failure:
                    return failure
                result, usable = await self._transact(conn, message)
            await self._release(conn, usable)
            if result.phase == "done":
                self.bucket.recover()
            return result

    async def _connect(self) -> tuple[_Connection | None, SendResult | None]:
        """A new connection, or the failure that made the relay `down` (or AUTH/TLS `fatal`).

        A failed connect is not a message's outcome: the whole pool waits (`connect_backoff_seconds`,
        doubling), one connection tries at a time, and `connect_failures` failures in a row (refused, no
        greeting, a 421 or 5xx greeting) mark the relay down: every send then returns that failure at once.
        Attempts that were already under way when a failure was noted count with it, not after it.
        """
        while not (self.fatal or self.down):
            if not self.failures:
                seen = self.failures
                conn, failure = await self._open()
            else:
                async with self.probe:
                    if self.fatal or self.down or not self.failures:
                        continue
                    await asyncio.sleep(max(0.0, self.retry_at - time.monotonic()))
                    seen = self.failures
                    conn, failure = await self._open()
            if failure is None:
                self.failures = 0
                return conn, None
            if failure.phase in ("auth", "tls"):
                self.fatal = failure
            elif seen == self.failures:
                self._note_connect_failure(failure)
        return None, self.fatal or self.down

    def _note_connect_failure(self, failure: SendResult) -> None:
        self.failures += 1
        if self.failures >= self.settings.connect_failures:
            self.down = failure
        else:
            self.retry_at = time.monotonic() + self.settings.connect_backoff_seconds * 2 ** (self.failures - 1)

    def throttle(self) -> None:
        self.bucket.throttle()

    def retry_after_failure(self) -> None:
        """A long-lived worker tries the relay again for each new shard after an AUTH, TLS or connection failure."""
        self.fatal = self.down = None
        self.failures = 0

    async def close(self) -> None:
        while self.idle:
            await self._quit(self.idle.pop())

    async def _open(self) -> tuple[_Connection | None, SendResult | None]:
        import aiosmtplib

        s = self.settings
        password = s.password or None
        smtp = aiosmtplib.SMTP(hostname=s.host, port=s.port, local_hostname=self.local_hostname, timeout=s.timeout,
                               use_tls=s.tls == "implicit", start_tls=True if s.tls == "starttls" else False,
                               validate_certs=s.validate_certs, username=s.username or None, password=password)
        try:
            await smtp.connect()
        except aiosmtplib.SMTPAuthenticationError as exc:
            return None, SendResult(exc.code, exc.message, "auth")
        except aiosmtplib.SMTPResponseException as exc:
            return None, SendResult(exc.code, exc.message, "connect")
        except aiosmtplib.SMTPTimeoutError as exc:
            return None, SendResult(None, str(exc), "connect", "timeout")
        except aiosmtplib.SMTPServerDisconnected as exc:
            return None, SendResult(None, str(exc), "connect", "closed")
        except (aiosmtplib.SMTPConnectError, OSError) as exc:
            refused = isinstance(exc, ConnectionRefusedError) or isinstance(exc.__cause__, ConnectionRefusedError)
            return None, SendResult(None, str(exc), "connect", "refused" if refused else "unreachable")
        except aiosmtplib.SMTPException as exc:  # STARTTLS not offered, and the like
            return None, SendResult(None, str(exc), "tls", "tls")
        self.opened += 1
        return _Connection(smtp), None

    async def _transact(self, conn: _Connection, message: OutgoingMessage) -> tuple[SendResult, bool]:
        import aiosmtplib

        smtp = conn.smtp
        phase = "mail"
        try:
            await smtp.mail(message.envelope_from)
            phase = "rcpt"
            await smtp.rcpt(message.recipient)
            phase = "data"
            reply = await smtp.data(message.data, timeout=self.settings.data_timeout)
        except aiosmtplib.SMTPResponseException as exc:
            usable = exc.code != 421 and smtp.is_connected
            if usable:
                usable = await self._reset(smtp)
            return SendResult(exc.code, exc.message, phase), usable
        except aiosmtplib.SMTPTimeoutError as exc:
            return SendResult(None, str(exc), phase, "timeout"), False
        except (aiosmtplib.SMTPServerDisconnected, ConnectionError, OSError) as exc:
            return SendResult(None, str(exc), phase, "disconnected"), False
        conn.used += 1
        return SendResult(reply.code, reply.message, "done"), True

    async def _reset(self, smtp) -> bool:
        import aiosmtplib

        try:
            await smtp.rset()
            return True
        except aiosmtplib.SMTPException:
            return False

    async def _release(self, conn: _Connection, usable: bool) -> None:
        if usable and conn.used < self.settings.max_per_connection and conn.smtp.is_connected:
            self.idle.append(conn)
        else:
            await self._quit(conn)

    async def _quit(self, conn: _Connection) -> None:
        import aiosmtplib

        try:
            if conn.smtp.is_connected:
                await conn.smtp.quit()
        except (aiosmtplib.SMTPException, OSError):
            conn.smtp.close()
