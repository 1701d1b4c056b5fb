"""Composing on another core: the sender's `_prepare` (read, compose, claim) in a forked child process.

Composing a message (the reader's links, tokens, quoted-printable lines, DKIM) is pure Python and takes about as
long as sending it; in the event loop's process it holds the loop, so the connections wait while the next half
batch is made. Once an edition proves bigger than one claim (the first half batch came back full), the sender
forks one child (`[send] compose_process = "auto"`; "off" never does) that holds a copy of the sender as it is
at that moment: its composer, with the variants already rendered, and the position reached in the edition.
The child reads, composes and claims each next half batch over its own store connection (the claim is
committed there, before any of it is sent, as in the loop) and hands the claimed messages back; the loop sends
the previous ones meanwhile. What the child hears (readers held or unbuildable at send time, CSS inlining runs)
comes back with each batch. A child that fails is a failed run, as a failed `_prepare` in the loop would be.
The child dies with its parent (PR_SET_PDEATHSIG): a SIGKILLed sender leaves no composer behind.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

_SENDER = None  # in the child: its copy of the EditionSender
_HEARD: list = []  # in the child: the on_skip calls to replay in the parent


def available(sender) -> bool:
    """Fork for this sender? Only with "auto", a real SMTP mailer (dry runs and tests' mailers keep what they
    record in this process) and a platform that forks."""
    from digest.send import SmtpMailer

    return (sender.settings.send.compose_process == "auto" and isinstance(sender.mailer, SmtpMailer)
            and "fork" in multiprocessing.get_all_start_methods())


class ForkedPreparer:
    def __init__(self, sender) -> None:
        self.sender = sender
        self.pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"), initializer=_adopt,
                                        initargs=(sender,))

    async def prepare(self, room: int, subscriber_ids: Sequence[int] | None, retry_deferred: bool) -> list | None:
        loop = asyncio.get_running_loop()
        jobs, inlined, variants, heard = await loop.run_in_executor(self.pool, _prepare, room,
                                                                    subscriber_ids, retry_deferred)
        self.sender.report.inlined += inlined
        self.sender.forked_variants = variants
        for args in heard:
            self.sender._skipped(*args)
        return jobs

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _adopt(sender) -> None:
    """The child's start: its own store connections, no signal of the terminal's, death with its parent."""
    global _SENDER
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides how a stop ends the run
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent()
    sender.engine.dispose(close=False)  # the parent's pooled connections stay the parent's
    sender._skipped = lambda email, reason: _HEARD.append((email, reason))
    _SENDER = sender


def _prepare(room: int, subscriber_ids, retry_deferred: bool):
    before = _SENDER.report.inlined
    _HEARD.clear()
    jobs = _SENDER._prepare(room, subscriber_ids, retry_deferred)
    return jobs, _SENDER.report.inlined - before, len(_SENDER.composer.variants), list(_HEARD)


def _die_with_parent() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
