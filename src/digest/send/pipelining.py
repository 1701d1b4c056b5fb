"""ESMTP PIPELINING (RFC 2920) of the envelope on top of an aiosmtplib connection (aiosmtplib has no pipelining API).

`send_envelope()` writes MAIL FROM and RCPT TO in one write and reads both replies in order, each kept with its
code; DATA then goes through aiosmtplib's own `data()`: three round trips a message instead of four. When the
relay's EHLO does not offer PIPELINING it is aiosmtplib's `mail()` then `rcpt()`, as before.

Why not DATA in the same group (RFC 2920 allows it last)? Postfix's smtp-sink, delaying its RCPT reply (`-W`),
answers a pipelined DATA ("503 need RCPT command") before the RCPT it delays: a relay's out-of-order reply would
then be taken for the RCPT's and the reader failed. With the group ending at RCPT there is no later command for
such a relay to answer early.

aiosmtplib's protocol parses one reply per `data_received()` and keeps the rest in its buffer, so a reply that
came in the same segment as the one before it is taken from that buffer (`_read_response_from_buffer`, the
protocol's own parser) before waiting for more; everything else (the write, the waiter, the timeouts, the command
lock, the address quoting) is aiosmtplib's.
"""

from __future__ import annotations

import re

from digest.send.outcome import OutgoingMessage

PLAIN = re.compile(r"[^\s<>\"(),;:\\\[\]@]+@[^\s<>\"(),;:\\\[\]@]+\Z")


async def offered(smtp) -> bool:
    """The relay's EHLO announced PIPELINING (the EHLO is sent first if it was not yet, as `mail()` would)."""
    await smtp._ehlo_or_helo_if_needed()
    return smtp.supports_extension("pipelining")


def quoted(address: str) -> bytes:
    """`<address>`: at once for a plain local@domain (what `quote_address()`'s parseaddr would give), else
    through aiosmtplib's `quote_address()`."""
    if PLAIN.match(address):
        return b"<%s>" % address.encode("ascii")
    from aiosmtplib.email import quote_address

    return quote_address(address).encode("ascii")


def commands(message: OutgoingMessage) -> bytes:
    from aiosmtplib.protocol import COMMAND_INJECTION_REGEX

    mail_from, rcpt_to = quoted(message.envelope_from), quoted(message.recipient)
    if COMMAND_INJECTION_REGEX.search(mail_from) or COMMAND_INJECTION_REGEX.search(rcpt_to):
        raise ValueError("an address contains a prohibited control character")
    return b"MAIL FROM:%s\r\nRCPT TO:%s\r\n" % (mail_from, rcpt_to)


async def reply(protocol, timeout: float | None):
    """The next reply: one already parsed (the waiter), else one waiting in the buffer, else the next to come."""
    waiter = protocol._response_waiter
    if waiter is not None and not waiter.done():
        buffered = protocol._read_response_from_buffer()
        if buffered is not None:
            return buffered
    return await protocol.read_response(timeout=timeout)


async def send_envelope(smtp, message: OutgoingMessage, timeout: float) -> None:
    """MAIL FROM and RCPT TO in one write (the relay `offered()` it). Raises what aiosmtplib's `mail()` and `rcpt()` raise
    (SMTPSenderRefused, SMTPRecipientRefused with the relay's code, SMTPServerDisconnected, SMTPTimeoutError),
    each with a `phase` attribute ("mail" or "rcpt"): the command whose reply it is, or that was awaited."""
    from aiosmtplib.errors import SMTPRecipientRefused, SMTPSenderRefused, SMTPServerDisconnected, SMTPTimeoutError

    phase = "mail"
    try:
        protocol = smtp.protocol
        if protocol is None or protocol._command_lock is None:
            raise SMTPServerDisconnected("Server not connected")
        data = commands(message)
        async with protocol._command_lock:
            protocol._response_pending = True
            protocol.write(data)
            mail = await reply(protocol, timeout)
            phase = "rcpt"
            try:
                rcpt = await reply(protocol, timeout)
            except (SMTPServerDisconnected, SMTPTimeoutError):
                if mail.code == 250:
                    raise
                rcpt = None  # the relay refused MAIL and hung up: that refusal is the outcome
    except (SMTPServerDisconnected, SMTPTimeoutError) as exc:
        smtp.close()  # as aiosmtplib does: a reply given up on leaves the connection out of step
        exc.phase = phase
        raise
    if mail.code != 250:
        _closing(smtp, mail, rcpt)
        raise _at(SMTPSenderRefused(mail.code, mail.message, message.envelope_from), "mail")
    if rcpt.code not in (250, 251):
        _closing(smtp, rcpt)
        raise _at(SMTPRecipientRefused(rcpt.code, rcpt.message, message.recipient), "rcpt")


def wire_body(data: bytes) -> bytes:
    """The message as DATA sends it, as aiosmtplib's `execute_data_command()` makes it (line endings CRLF, a
    leading dot doubled, the final dot), with its two regular expressions run only when they would change
    something: the composer's messages are CRLF already and rarely have a line starting with a dot."""
    from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings

    crlf = data.count(b"\r\n")
    if crlf != data.count(b"\n") or crlf != data.count(b"\r") or not data.endswith(b"\r\n"):
        data = normalize_message_line_endings(data)
    if data.startswith(b".") or b"\n." in data:
        data = PERIOD_REGEX.sub(b"..", data)
    return data + b".\r\n"


async def send_data(smtp, message: OutgoingMessage, timeout: float):
    """DATA, the 354, the message, its reply: `execute_data_command()` with `wire_body()`; raises as `data()`."""
    from aiosmtplib.errors import SMTPDataError, SMTPServerDisconnected, SMTPTimeoutError

    protocol = smtp.protocol
    if protocol is None or protocol._command_lock is None:
        raise SMTPServerDisconnected("Connection lost")
    body = wire_body(message.data)
    try:
        async with protocol._command_lock:
            protocol._response_pending = True
            protocol.write(b"DATA\r\n")
            start = await reply(protocol, timeout)
            if start.code != 354:
                raise SMTPDataError(start.code, start.message)
            protocol._response_pending = True
            protocol.write(body)
            done = await reply(protocol, timeout)
            if done.code != 250:
                raise SMTPDataError(done.code, done.message)
    except (SMTPServerDisconnected, SMTPTimeoutError):
        smtp.close()
        raise
    return done


def _closing(smtp, *replies) -> None:
    """A 421 (or no reply at all) means the relay is closing: so do we, as aiosmtplib does on a 421."""
    if any(r is None or r.code == 421 for r in replies):
        smtp.close()


def _at(exc: Exception, phase: str) -> Exception:
    exc.phase = phase
    return exc
