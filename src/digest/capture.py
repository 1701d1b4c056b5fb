"""A local capture SMTP server: aiosmtpd on a free loopback port, each message stored in a Maildir.

Used by `digest demo` so the demo goes through the real SMTP path without a real relay.
"""

from __future__ import annotations

import asyncio
import mailbox
import threading
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class MaildirHandler:
    maildir: Path
    received: int = 0
    box: mailbox.Maildir = field(init=False)

    def __post_init__(self) -> None:
        self.box = mailbox.Maildir(str(self.maildir), create=True)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        data = envelope.original_content or envelope.content
        prefix = f"X-Envelope-From: {envelope.mail_from}\r\nX-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        self.box.add(prefix.encode() + data)
        self.received += 1
        return "250 2.0.0 OK: captured"


class CaptureServer:
    """Context manager: `with CaptureServer(path) as server: server.port`."""

    def __init__(self, maildir: Path, host: str = "127.0.0.1") -> None:
        self.handler = MaildirHandler(maildir)
        self.host = host
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="capture-smtp", daemon=True)
        self._server = None

    def __enter__(self) -> CaptureServer:
        from aiosmtpd.smtp import SMTP

        self._thread.start()
        factory = lambda: SMTP(self.handler, hostname="capture.local", ident="digest capture")  # noqa: E731
        future = asyncio.run_coroutine_threadsafe(self._loop.create_server(factory, self.host, 0), self._loop)
        self._server = future.result(timeout=10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc) -> None:
        async def stop():
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
