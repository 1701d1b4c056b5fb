"""The relay's rate limit shared by every worker: blocks of sends reserved in PostgreSQL, spaced locally."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.engine import Engine

from digest import store
from digest.send import TokenBucket

log = logging.getLogger("digest.workers")


class SharedBucket(TokenBucket):
    """`TokenBucket`'s interface over the `ratelimit` row: the whole cluster sends at most `rate` per second.

    Each worker reserves a block of sends at a time (a tenth of a second's worth at the current shared rate,
    so that after a throttle small blocks keep every worker reserving, and recovering the rate, often),
    waits for the reserved window to open and spaces its sends at the shared rate inside it. Sends a
    worker did not use before its window closed are dropped, not carried into another worker's time.
    """

    def __init__(self, engine: Engine, rate: float, *, name: str = "smtp") -> None:
        super().__init__(rate)
        self.engine = engine
        self.name = name
        self.left = 0
        self.next_at = 0.0
        self.window_end = 0.0

    async def take(self) -> None:
        if self.target <= 0:  # no shared limit: only this worker's own backoff after a 421
            return await super().take()
        loop = asyncio.get_running_loop()
        async with self.lock:
            if self.left <= 0 or loop.time() > self.window_end:  # used up, or its window has passed
                count = self.block()
                wait, self.rate = await asyncio.to_thread(self._reserve, count)
                start = loop.time() + wait
                self.left = count
                self.next_at = max(self.next_at, start)
                self.window_end = start + count / self.rate
            delay = self.next_at - loop.time()
            if delay > 0:
                await self.sleep(delay)
            self.next_at = max(self.next_at, loop.time()) + 1 / self.rate
            self.left -= 1  # (a throttle() during the sleep may have set it to 0: then it is -1, and refilled)

    def block(self) -> int:
        """Sends to reserve at once: a tenth of a second at the rate last granted."""
        return max(1, int(self.rate / 10))

    def _reserve(self, count: int) -> tuple[float, float]:
        with self.engine.begin() as conn:
            return store.ratelimit.reserve(conn, name=self.name, count=count, target=self.target)

    def throttle(self, floor: float = 1.0, fallback: float = 20.0) -> None:
        if self.target <= 0:  # no shared limit configured: slow this worker down only
            super().throttle(floor, fallback)
            return
        with self.engine.begin() as conn:
            self.rate = store.ratelimit.throttle(conn, name=self.name, floor=floor)
        self.left = 0  # the block reserved at the old rate is given up: the next one is at the new rate
        log.warning("relay asked to slow down: the cluster's rate is now %.1f/s", self.rate)

    def recover(self) -> None:
        if self.target <= 0:
            super().recover()  # with a shared limit, each reservation recovers the shared rate
