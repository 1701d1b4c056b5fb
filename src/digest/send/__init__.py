"""Sending: `outcome` (the message, `SendResult`, `classify()`, the `Mailer` protocol, the recording mailer),
`bucket` (the rate limit), `smtp` (the pooled SMTP mailer). Everything is importable from `digest.send`;
`SmtpMailer` (aiosmtplib) is imported when first used, so a preview does not load the SMTP client."""

from typing import TYPE_CHECKING

from digest.send.bucket import TokenBucket
from digest.send.outcome import (UNTRIED_PHASES, Mailer, OutgoingMessage, RecordingMailer, SendResult, Verdict,
                                 classify, connect_problem, enhanced_code, next_attempt_at)

if TYPE_CHECKING:
    from digest.send.smtp import SmtpMailer

__all__ = ["UNTRIED_PHASES", "Mailer", "OutgoingMessage", "RecordingMailer", "SendResult", "SmtpMailer", "TokenBucket",
           "Verdict", "classify", "connect_problem", "enhanced_code", "next_attempt_at"]


def __getattr__(name: str):
    if name == "SmtpMailer":
        from digest.send.smtp import SmtpMailer

        globals()["SmtpMailer"] = SmtpMailer
        return SmtpMailer
    raise AttributeError(f"module 'digest.send' has no attribute {name!r}")
