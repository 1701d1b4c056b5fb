"""The circuit breaker: a relay that answers (nearly) every message with the same failure is broken, not the list.

It watches a run's last `breaker_window` outcomes. Once it has seen `breaker_min_outcomes` of them and one same
failure (status, class of the SMTP code or the error, phase: e.g. `bounced 5xx at rcpt`, `unknown disconnected at
data`, `deferred 4xx at mail`; a relay refusing every RCPT with 550, 551, 553 and 554 in turn is one failure) is at least `breaker_threshold` of the window, it trips: the sender stops, and the rows
of that failure in the window are not held against their readers. Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from digest.models import DeliveryStatus
from digest.send import SendResult, Verdict


def fault_key(result: SendResult, verdict: Verdict) -> str | None:
    """What kind of failure this outcome is (None: the relay took the message)."""
    if verdict.status == DeliveryStatus.sent:
        return None
    what = f"{result.code // 100}xx" if result.code is not None else (result.error or "no reply")
    return f"{verdict.status} {what} at {result.phase}"


@dataclass
class Breaker:
    window: int = 100  # 0: never trips
    min_outcomes: int = 30
    threshold: float = 0.9
    recent: deque = field(init=False)
    tripped: str | None = None  # the failure that tripped it
    sample: str = ""  # the relay's reply of the last outcome of that failure, for the operator

    def __post_init__(self) -> None:
        self.recent = deque(maxlen=max(1, self.window))

    def observe(self, delivery_id: int, key: str | None, reply: str = "") -> bool:
        """Record one outcome; True when this one trips the breaker (it stays tripped)."""
        if not self.window:
            return False
        self.recent.append((delivery_id, key))
        if key is not None and key == self.tripped:
            self.sample = reply or self.sample
        if self.tripped is not None or key is None or len(self.recent) < self.min_outcomes:
            return False
        worst, n = Counter(k for _, k in self.recent if k is not None).most_common(1)[0]
        if n >= self.threshold * len(self.recent):
            self.tripped, self.sample = worst, reply
            return True
        return False

    def storm(self) -> list[int]:
        """The deliveries in the window whose outcome was the failure that tripped it."""
        return [i for i, k in self.recent if self.tripped is not None and k == self.tripped]

    def share(self) -> tuple[int, int]:
        """(outcomes of the tripping failure, outcomes) in the window."""
        return len(self.storm()), len(self.recent)
