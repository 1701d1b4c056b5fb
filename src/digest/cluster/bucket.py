"""The relay's rate limit shared by every worker: blocks of sends reserved in PostgreSQL, spaced locally."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.engine import Engine

from digest import store
from digest.send import TokenBucket

log = logging.getLogger("digest.cluster")


class SharedBucket(TokenBucket):
    """`TokenBucket`'s interface over the `ratelimit` row: the whole cluster sends at most `rate` per second.

    Each worker reserves `block` sends at a time (a tenth of a second's worth), waits for the reserved
    window to open, and spaces its sends at the shared rate inside it.
    """

    def __init__(self, engine: Engine, rate: float, *, name: str = "smtp") -> None:
        super().__init__(rate)
        self.engine = engine
        self.name = name
        self.block = max(1, int(rate / 10))
        self.left = 0
        self.next_at = 0.0

    async def take(self) -> None:
        if self.target <= 0:  # no shared limit: only this worker's own backoff after a 421
            return await super().take()
        loop = asyncio.get_running_loop()
        async with self.lock:
            if self.left == 0:
                wait, self.rate = await asyncio.to_thread(self._reserve)
                self.left = self.block
                self.next_at = max(self.next_at, loop.time() + wait)
            delay = self.next_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.next_at = max(self.next_at, loop.time()) + 1 / self.rate
            self.left -= 1

    def _reserve(self) -> tuple[float, float]:
        with self.engine.begin() as conn:
            return store.ratelimit.reserve(conn, name=self.name, count=self.block, target=self.target)

    def throttle(self, floor: float = 1.0, fallback: float = 20.0) -> None:
        if self.target <= 0:  # no shared limit configured: slow this worker down only
            super().throttle(floor, fallback)
            return
        with self.engine.begin() as conn:
            self.rate = store.ratelimit.throttle(conn, name=self.name, floor=floor)
        log.warning("relay asked to slow down: the cluster's rate is now %.1f/s", self.rate)

    def recover(self) -> None:
        if self.target <= 0:
            super().recover()  # each reservation recovers the shared rate
