"""What sending is made of: the message, what became of it (`SendResult`), the `Mailer` protocol, the recording
mailer, and `classify()`.

`classify()` is pure: it turns what the relay said (or failed to say) into a delivery status, following
the SMTP section of the email-standards guide.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from digest.models import DeliveryStatus

ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
UNTRIED_PHASES = ("connect", "tls", "auth")


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    envelope_from: str
    recipient: str
    message_id: str
    data: bytes
    variant: str = ""  # what it holds, for the dry run's lines: its content variant and articles, in order
    article_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class SendResult:
    """What happened to one message. `phase` is where it ended: connect, auth, tls, mail, rcpt, data, done."""

    code: int | None
    reply: str
    phase: str
    error: str | None = None  # "timeout", "disconnected", "refused", ... when there was no SMTP reply

    @property
    def untried(self) -> bool:
        """Nothing of the message left this process: no connection, or TLS or AUTH failed before MAIL FROM."""
        return self.phase in UNTRIED_PHASES


@dataclass(frozen=True, slots=True)
class Verdict:
    status: DeliveryStatus
    reason: str
    throttle: bool = False  # slow the whole stream
    stop: bool = False  # a problem on our side (auth, TLS): stop the edition, do not burn the list
    sender_side: bool = False  # 5.7.x policy: not the subscriber's fault; several in a row stop the edition


def enhanced_code(reply: str) -> tuple[int, int, int] | None:
    match = ENHANCED.match(reply or "")
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def classify(result: SendResult) -> Verdict:
    code, phase = result.code, result.phase
    if result.error is not None:
        return _classify_no_reply(result)
    if code is not None and 200 <= code < 300 and phase == "done":
        return Verdict(DeliveryStatus.sent, f"{code} {result.reply}".strip())
    enhanced = enhanced_code(result.reply)
    text = f"{code} {result.reply}".strip()
    if code == 535 or (phase == "auth" and code and code >= 500):
        return Verdict(DeliveryStatus.deferred, f"authentication failed: {text}", stop=True)
    if code is not None and 400 <= code < 500:
        throttle = code == 421 or (enhanced is not None and enhanced[1] == 7)
        return Verdict(DeliveryStatus.deferred, text, throttle=throttle)
    if enhanced is not None and enhanced[1] == 7:
        return Verdict(DeliveryStatus.failed, f"rejected by policy (sender side): {text}", sender_side=True)
    if (enhanced is not None and enhanced[1] == 1) or (enhanced is None and phase == "rcpt" and code in (550, 551, 553)):
        return Verdict(DeliveryStatus.bounced, f"bad mailbox: {text}")
    return Verdict(DeliveryStatus.failed, text or "rejected")


def _classify_no_reply(result: SendResult) -> Verdict:
    detail = f"{result.error} during {result.phase}: {result.reply}".strip().rstrip(":")
    if result.phase == "data":
        return Verdict(DeliveryStatus.unknown, f"{detail} (the relay may have accepted it; not resent)")
    if result.phase in ("tls", "auth"):
        return Verdict(DeliveryStatus.deferred, detail, stop=True)
    return Verdict(DeliveryStatus.deferred, detail)


def connect_problem(result: SendResult, timeout: float) -> str:
    """A connection failure in a few words: `connection refused`, `no greeting within 30 s`, `421 …`."""
    if result.code is not None:
        return f"{result.code} {result.reply}".strip()
    return {"refused": "connection refused",
            "timeout": f"no answer within {timeout:g} s ({result.reply or 'timeout'})",
            "closed": "connection closed before the greeting"}.get(result.error or "", result.reply or "cannot connect")


def next_attempt_at(now: datetime, attempts: int, *, base: float, cap: float,
                    rng: random.Random | None = None) -> datetime:
    """Exponential backoff with jitter: base·2^(attempts−1) seconds, capped, plus up to 25%."""
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return now + timedelta(seconds=delay * (1 + (rng or random).random() / 4))


class Mailer(Protocol):
    async def send(self, message: OutgoingMessage) -> SendResult: ...

    def throttle(self) -> None: ...

    async def close(self) -> None: ...


@dataclass
class RecordingMailer:
    """Keeps messages in memory and connects to nothing: dry runs and tests."""

    messages: list[OutgoingMessage] = field(default_factory=list)

    async def send(self, message: OutgoingMessage) -> SendResult:
        self.messages.append(message)
        return SendResult(250, "2.0.0 recorded, not sent", "done")

    def throttle(self) -> None:
        pass

    async def close(self) -> None:
        pass
