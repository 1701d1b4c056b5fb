"""The pooled SMTP mailer: aiosmtplib over reused connections, one rate limit shared by all of them, and a
pool-wide backoff when the relay cannot be reached."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from digest.config import SmtpSettings
from digest.send import pipelining
from digest.send.bucket import TokenBucket
from digest.send.outcome import OutgoingMessage, SendResult


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
            if self.settings.pipelining and await pipelining.offered(smtp):
                await pipelining.send_envelope(smtp, message, self.settings.timeout)  # raises with its `phase`
                phase = "data"
                reply = await pipelining.send_data(smtp, message, self.settings.data_timeout)
            else:
                await smtp.mail(message.envelope_from)
                phase = "rcpt"
                await smtp.rcpt(message.recipient)
                phase = "data"
                reply = await smtp.data(message.data, timeout=self.settings.data_timeout)
        except aiosmtplib.SMTPResponseException as exc:
            phase = getattr(exc, "phase", phase)
            usable = exc.code != 421 and smtp.is_connected
            if usable:
                usable = await self._reset(smtp)
            return SendResult(exc.code, exc.message, phase), usable
        except aiosmtplib.SMTPTimeoutError as exc:
            return SendResult(None, str(exc), getattr(exc, "phase", phase), "timeout"), False
        except (aiosmtplib.SMTPServerDisconnected, ConnectionError, OSError) as exc:
            return SendResult(None, str(exc), getattr(exc, "phase", phase), "disconnected"), False
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
