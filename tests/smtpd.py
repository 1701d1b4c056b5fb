"""A real aiosmtpd server on a free loopback port, with faults injected by handler hooks (no client mocks)."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    peer: tuple
    ehlo: str


@dataclass
class FaultHandler:
    """Replies as told: per-recipient RCPT and DATA replies, a disconnect in DATA, a slow DATA reply."""

    messages: list[Received] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data_replies: dict[str, str] = field(default_factory=dict)
    disconnect_in_data: set[str] = field(default_factory=set)
    data_delay: dict[str, float] = field(default_factory=dict)
    ehlo_names: list[str] = field(default_factory=list)
    peers: set = field(default_factory=set)
    mail_replies: dict[str, str] = field(default_factory=dict)  # per envelope sender
    pipelining: bool = False  # announce PIPELINING (RFC 2920) in the EHLO reply
    envelopes_together: list[bool] = field(default_factory=list)  # per MAIL: had its RCPT come in with it?

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        session.host_name = hostname
        self.ehlo_names.append(hostname)
        self.peers.add(session.peer)
        if self.pipelining:
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802
        self.envelopes_together.append(b"RCPT TO:" in bytes(server._reader._buffer))  # the client pipelined
        if address in self.mail_replies:
            return self.mail_replies[address]
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        rcpt = envelope.rcpt_tos[0]
        if rcpt in self.disconnect_in_data:
            server.transport.close()
            return "421 closing"
        if rcpt in self.data_delay:
            await asyncio.sleep(self.data_delay[rcpt])
        if rcpt in self.data_replies:
            return self.data_replies[rcpt]
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                      envelope.original_content or envelope.content, session.peer,
                                      session.host_name or ""))
        return "250 2.0.0 OK queued"

    def to(self, rcpt: str) -> list[Received]:
        return [m for m in self.messages if rcpt in m.rcpt_tos]


class ThreadedSMTPServer:
    """`with ThreadedSMTPServer() as s: s.port, s.handler.messages` — aiosmtpd in its own loop and thread."""

    def __init__(self, handler: FaultHandler | None = None) -> None:
        self.handler = handler or FaultHandler()
        self.host, self.port = "127.0.0.1", 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.smtp_kwargs: dict = {}  # e.g. tls_context, require_starttls, authenticator

    def __enter__(self) -> ThreadedSMTPServer:
        from aiosmtpd.smtp import SMTP

        self.thread.start()
        factory = lambda: SMTP(self.handler, hostname="test.local", **self.smtp_kwargs)  # noqa: E731
        create = self.loop.create_server(factory, self.host, 0)
        self.server = asyncio.run_coroutine_threadsafe(create, self.loop).result(10)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc) -> None:
        async def stop():
            self.server.close()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
