"""The streaming sender: a producer claiming batches, one long-lived sender task per connection, a recorder.

    producer ──claimed messages──▶ queue ──▶ N sender tasks (one per connection) ──results──▶ recorder ──▶ store

The producer reads, composes and claims half a batch (`[send] batch_size` / 2) at a time, and only while the
rows claimed and not yet recorded (the in-flight window) leave room for it: the window never exceeds
`batch_size`, so a crash still leaves at most one batch `sending` (recovery marks it `unknown`), and a claim
is committed before any of its messages is sent. The sender tasks each take the next message as soon as
their last one is answered: no message waits for another's slow reply, and no connection idles while the next
half batch is composed (the queue still holds the other half). The recorder commits outcomes every
`[send] record_every` results or `record_seconds`, whichever comes first, and frees that room in the window.

The operator's pause, the deadline and a stop signal are looked at before each claim; what is claimed then
is still sent (or, once the run is halted, released untried).
While a planning child (`pipeline.planner`) still writes the edition's rows, finding nothing sendable means
waiting for its next page, not the end; the read that ends the run starts after the child has finished.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from digest.pipeline import producer

PLAN_POLL_SECONDS = 0.05  # nothing sendable yet while `pipeline.planner`'s child plans: look again this often


class Window:
    """Rows claimed and not yet recorded: at most `size` (a claim waits for room)."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self.open = 0
        self.error: BaseException | None = None  # the recorder failed: nothing more is claimed
        self._changed = asyncio.Event()

    async def room(self, n: int) -> None:
        while self.error is None and self.open and self.open + n > self.size:
            self._changed.clear()
            await self._changed.wait()
        if self.error is not None:
            raise self.error

    def claimed(self, n: int) -> None:
        self.open += n

    def recorded(self, n: int) -> None:
        self.open -= n
        self._changed.set()

    def fail(self, exc: BaseException) -> None:
        self.error = exc
        self._changed.set()


class Recorder:
    """Collects (job, result) pairs and hands them to `record` every `every` results or `seconds`."""

    def __init__(self, record: Callable[[list], None], window: Window, *, every: int, seconds: float) -> None:
        self.record, self.window = record, window
        self.every, self.seconds = max(1, every), seconds
        self.pending: list = []
        self.closed = False
        self._due = asyncio.Event()

    def add(self, job, result) -> None:
        self.pending.append((job, result))
        if len(self.pending) >= self.every:
            self._due.set()

    def close(self) -> None:
        self.closed = True
        self._due.set()

    async def run(self) -> None:
        try:
            while not self.closed or self.pending:
                if not self.closed:
                    try:
                        await asyncio.wait_for(self._due.wait(), self.seconds)
                    except TimeoutError:
                        pass
                self._due.clear()
                if self.pending:
                    done, self.pending = self.pending, []
                    self.record(done)
                    self.window.recorded(len(done))
        except BaseException as exc:
            self.window.fail(exc)
            raise


async def stream(sender, *, limit: int | None, subscriber_ids: Sequence[int] | None, retry_deferred: bool) -> None:
    """Run one edition's sending through the producer, `[smtp] connections` sender tasks and the recorder."""
    s = sender.settings
    window = Window(s.send.batch_size)
    queue: asyncio.Queue = asyncio.Queue()
    recorder = Recorder(sender._record, window, every=s.send.record_every, seconds=s.send.record_seconds)
    recording = asyncio.create_task(recorder.run())
    senders = [asyncio.create_task(_send_from(sender, queue, recorder)) for _ in range(max(1, s.smtp.connections))]
    try:
        await _produce(sender, queue, window, limit, subscriber_ids, retry_deferred)
    finally:
        for _ in senders:
            queue.put_nowait(None)
        await asyncio.gather(*senders)
        recorder.close()
        await recording


async def _produce(sender, queue: asyncio.Queue, window: Window, limit: int | None,
                   subscriber_ids: Sequence[int] | None, retry_deferred: bool) -> None:
    chunk = max(1, sender.settings.send.batch_size // 2)
    produced, forked = 0, None
    try:
        while limit is None or produced < limit:
            room = chunk if limit is None else min(chunk, limit - produced)
            await window.room(room)
            if sender.halt or sender._ending():
                return
            settled = sender.planning is None or not sender.planning()  # no more rows will come
            if forked is not None:
                jobs = await forked.prepare(room, subscriber_ids, retry_deferred)
            else:
                read = sender.last_id
                jobs = sender._prepare(room, subscriber_ids, retry_deferred)
                if jobs is not None and sender.last_id != read and _full(sender, room) and producer.available(sender):
                    forked = producer.ForkedPreparer(sender)  # more to come: the next claims on another core
            if jobs is None and settled:
                return
            if jobs is None:  # a planning child is still writing rows: its next page
                await asyncio.sleep(PLAN_POLL_SECONDS)
                continue
            window.claimed(len(jobs))
            produced += len(jobs)
            for job in jobs:
                queue.put_nowait(job)
            await asyncio.sleep(0)  # the senders take the first messages before the next claim
    finally:
        if forked is not None:
            forked.close()


def _full(sender, room: int) -> bool:
    """The last claim read as many rows as it asked for: the edition goes on."""
    return sender.read == room


async def _send_from(sender, queue: asyncio.Queue, recorder: Recorder) -> None:
    """One sender task: the next claimed message as soon as the last one was answered (None: untried, halted)."""
    while (job := await queue.get()) is not None:
        recorder.add(job, await sender._attempt(job[0], job[1]))
