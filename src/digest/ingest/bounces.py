"""Bounce reports: RFC 3464 delivery status notifications and VERP addresses, read from raw bytes. Pure.

A report names each failed recipient (`Final-Recipient`, `Action`, `Status`, `Diagnostic-Code`). Which of our
deliveries it is about comes from the VERP envelope sender the bounce was sent back to (`bounces+TOKEN@…`),
or else from the Message-ID of the returned message; never from the recipient address alone, which anyone
could put in a forged report. The recipient is then checked against the delivery's (`operations.bounces`): a
report whose Final-Recipient is someone else suppresses nobody.
"""

from __future__ import annotations

import mailbox
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from pathlib import Path

from digest.errors import InputError

VERP = re.compile(r"\bbounces\+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)@", re.IGNORECASE)
STATUS = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})")
SMTP_CODE = re.compile(r"^\s*(?:smtp;)?\s*([245]\d\d)\b", re.IGNORECASE)
# Where the VERP address shows up: the headers the delivering MTA adds, Postfix's per-message field, and
# the Return-Path of the returned message.
ENVELOPE_HEADERS = ("X-Original-To", "Delivered-To", "Envelope-To", "X-Envelope-To", "To")


@dataclass(frozen=True, slots=True)
class BounceReport:
    """What one report says about one recipient."""

    recipient: str
    action: str  # failed | delayed | delivered | relayed | expanded
    status: str  # the enhanced status code, e.g. "5.1.1"
    diagnostic: str  # e.g. "smtp; 550 5.1.1 <x@example.org>: Recipient address rejected"
    verp_tokens: tuple[str, ...] = ()
    message_id: str | None = None  # of the returned message, when the report includes it
    permanent: bool | None = None  # a provider's own word (SES Permanent, Postmark HardBounce, ...), else None

    @property
    def failed(self) -> bool:
        return self.action == "failed"

    @property
    def kind(self) -> str:
        """By the status code (`bounce_kind`); a provider's permanent/temporary decides between hard and soft,
        but a x.7.x status stays `policy`."""
        kind = bounce_kind(self.status)
        if self.permanent is None or kind == "policy":
            return kind
        return "hard" if self.permanent else "soft"

    @property
    def smtp_code(self) -> int | None:
        match = SMTP_CODE.match(self.diagnostic)
        return int(match[1]) if match else None

    @property
    def reply(self) -> str:
        """The status code first, then the diagnostic: the shape of an SMTP reply stored for a delivery."""
        text = re.sub(r"^\s*smtp;\s*", "", self.diagnostic, flags=re.IGNORECASE)
        return f"{self.status} {text}".strip()


def bounce_kind(status: str) -> str:
    """`hard` (5.1.x: no such mailbox), `policy` (x.7.x: the sender's side) or `soft` (the rest, 5.2.x too)."""
    match = STATUS.match(status or "")
    if match is None:
        return "soft"
    if match[2] == "7":
        return "policy"
    return "hard" if (match[1], match[2]) == ("5", "1") else "soft"


def parse_report(data: bytes, msg: EmailMessage | None = None) -> list[BounceReport]:
    """One BounceReport per recipient of a `multipart/report; report-type=delivery-status`; [] otherwise
    (`msg`: `data` already parsed with the default policy)."""
    msg = msg if msg is not None else message_from_bytes(data, policy=policy.default)
    if msg.get_content_type() != "multipart/report" or msg.get_param("report-type") != "delivery-status":
        return []
    parts = list(msg.iter_parts())
    status = next((p for p in parts if p.get_content_type() == "message/delivery-status"), None)
    if status is None:
        return []
    returned = _returned_headers(parts)
    blocks = status.get_payload()
    tokens = _verp_tokens(msg, blocks[:1], returned)
    message_id = str(returned["Message-ID"]).strip() if returned and returned["Message-ID"] else None
    return [_recipient(block, tokens, message_id) for block in blocks[1:] if block["Final-Recipient"] or
            block["Original-Recipient"]]


def _recipient(block, tokens: tuple[str, ...], message_id: str | None) -> BounceReport:
    address = str(block["Final-Recipient"] or block["Original-Recipient"])
    return BounceReport(recipient=address.partition(";")[2].strip() or address.strip(),
                        action=str(block["Action"] or "").strip().lower(),
                        status=str(block["Status"] or "").strip().split(" ")[0],
                        diagnostic=" ".join(str(block["Diagnostic-Code"] or "").split()),
                        verp_tokens=tokens, message_id=message_id)


def _returned_headers(parts: list[EmailMessage]):
    for part in parts:
        if part.get_content_type() == "message/rfc822":
            return part.get_payload()[0]
        if part.get_content_type() == "text/rfc822-headers":
            return BytesHeaderParser(policy=policy.default).parsebytes(part.get_payload(decode=True) or b"")
    return None


def _verp_tokens(msg, per_message: list, returned) -> tuple[str, ...]:
    values = [str(v) for name in ENVELOPE_HEADERS for v in msg.get_all(name, [])]
    values += [str(v) for block in per_message for v in block.get_all("X-Postfix-Sender", [])]
    if returned is not None:
        values += [str(v) for v in returned.get_all("Return-Path", [])]
    return tuple(dict.fromkeys(token for value in values for token in VERP.findall(value)))


def read_mailbox(path: Path) -> Iterator[bytes]:
    """Every message of a Maildir (a directory with cur/ and new/), an mbox file, or a file of one message
    (.eml), as bytes."""
    if path.is_dir():
        if not (path / "cur").is_dir() or not (path / "new").is_dir():
            raise InputError(f"{path}: not a Maildir (no cur/ and new/ inside)")
        box = mailbox.Maildir(str(path), factory=None, create=False)
    elif path.is_file():
        with path.open("rb") as f:
            head = f.read(5)
        if head and head != b"From ":  # one message saved as a file (.eml): not an mbox, which would read as none
            yield path.read_bytes()
            return
        box = mailbox.mbox(str(path), factory=None, create=False)
    else:
        raise InputError(f"{path}: no such file or directory")
    try:
        for key in box.keys():
            yield box.get_bytes(key)
    finally:
        box.close()
