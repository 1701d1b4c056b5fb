"""Sending: `outcome` (the message, `SendResult`, `classify()`, the `Mailer` protocol, the recording mailer),
`bucket` (the rate limit), `smtp` (the pooled SMTP mailer). Everything is importable from `digest.send`."""

from digest.send.bucket import TokenBucket
from digest.send.outcome import (UNTRIED_PHASES, Mailer, OutgoingMessage, RecordingMailer, SendResult, Verdict,
                                 classify, connect_problem, enhanced_code, next_attempt_at)
from digest.send.smtp import SmtpMailer

__all__ = ["UNTRIED_PHASES", "Mailer", "OutgoingMessage", "RecordingMailer", "SendResult", "SmtpMailer", "TokenBucket",
           "Verdict", "classify", "connect_problem", "enhanced_code", "next_attempt_at"]
