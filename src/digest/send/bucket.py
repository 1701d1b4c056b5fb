"""The relay's rate limit in one process: a token bucket that halves on a throttle and recovers on success."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class TokenBucket:
    """`rate` messages per second on average (0 = unlimited); `throttle()` halves it, successes recover it."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.target = self.rate = rate
        self.clock, self.sleep = clock, sleep
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
                await self.sleep((1 - self.tokens) / self.rate)
                self.tokens, self.stamp = 1.0, self.clock()
            self.tokens -= 1

    def throttle(self, floor: float = 1.0, fallback: float = 20.0) -> None:
        self.rate = max(floor, (self.rate or fallback) / 2)

    def recover(self) -> None:
        if self.target and self.rate < self.target:
            self.rate = min(self.target, self.rate * 1.05)
        elif not self.target and self.rate:
            self.rate = self.rate * 1.05 if self.rate < 1000 else 0.0
