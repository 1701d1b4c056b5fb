"""What arrives at the bounce mailbox, read from raw bytes. Pure.

Three kinds are acted on:

    bounce       an RFC 3464 delivery status notification (`ingest.bounces.parse_report`), or a non-standard
                 bounce whose failed recipients Mailman's detectors (`flufl.bounce`) find
    complaint    an RFC 5965 feedback report (ARF: `multipart/report; report-type=feedback-report`), the
                 original's headers in `message/rfc822` or `text/rfc822-headers`
    unsubscribe  mail to the List-Unsubscribe `mailto:` address (`unsubscribe@DOMAIN?subject=TOKEN`): the token
                 in the subject, or in the address itself (`unsubscribe+TOKEN@DOMAIN`)

Which delivery a bounce or complaint is about comes from a VERP token (HMAC-checked by the caller) or the
Message-ID of our original; a token in an unsubscribe mail is the one-click link's and is checked the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses

from digest.ingest.bounces import ENVELOPE_HEADERS, VERP, BounceReport, _returned_headers, parse_report

TOKEN = re.compile(r"[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{20,}")  # a reader-link token: body.mac (base64url)
MESSAGE_ID = re.compile(r"^\s*Message-ID:\s*(<[^<>\s]+@[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Complaint:
    """An ARF report: the reader marked our message as spam (or another feedback type)."""

    feedback_type: str  # abuse | fraud | virus | other | not-spam | ...
    recipient: str  # Original-Rcpt-To, else the original's To ("" when the provider redacted both)
    verp_tokens: tuple[str, ...] = ()
    message_id: str | None = None


@dataclass(frozen=True, slots=True)
class UnsubscribeRequest:
    """Mail to the List-Unsubscribe address: the tokens that may be the one-click link's, in the order found."""

    tokens: tuple[str, ...]
    sender: str


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message, read: `kind` is bounce | complaint | unsubscribe | unreadable."""

    kind: str
    bounces: tuple[BounceReport, ...] = ()
    complaint: Complaint | None = None
    unsubscribe: UnsubscribeRequest | None = None
    subject: str = ""


def read_inbound(data: bytes, domain: str) -> Inbound:
    """Which of the three kinds a message is (`domain`: the From domain, of the unsubscribe address)."""
    try:
        msg = message_from_bytes(data, policy=policy.default)
        subject = " ".join(str(msg.get("Subject", "")).split())[:200]
        if msg.get_content_type() == "multipart/report" and msg.get_param("report-type") == "feedback-report":
            complaint = parse_feedback(msg)
            return Inbound("complaint", complaint=complaint, subject=subject) if complaint else Inbound("unreadable")
        request = unsubscribe_request(msg, domain)
        if request is not None:
            return Inbound("unsubscribe", unsubscribe=request, subject=subject)
        reports = parse_report(data, msg) or fallback_reports(data, msg)
    except (ValueError, LookupError, TypeError, AttributeError, IndexError):
        return Inbound("unreadable")  # malformed MIME: nothing we can act on
    return Inbound("bounce", bounces=tuple(reports), subject=subject) if reports else Inbound("unreadable",
                                                                                              subject=subject)


def parse_feedback(msg: EmailMessage) -> Complaint | None:
    """The complaint of an ARF report; None when it has no `message/feedback-report` part."""
    parts = list(msg.iter_parts())
    report = next((p for p in parts if p.get_content_type() == "message/feedback-report"), None)
    if report is None:
        return None
    fields = _report_fields(report)
    original = _returned_headers(parts)
    recipient = fields.get("original-rcpt-to", "")
    if not recipient and original is not None and original["To"]:
        recipient = next((a for _, a in getaddresses([str(original["To"])]) if a), "")
    values = [str(v) for v in msg.get_all("To", [])]
    if original is not None:
        values += [str(v) for name in ("Return-Path", "From", *ENVELOPE_HEADERS) for v in original.get_all(name, [])]
    values.append(fields.get("original-mail-from", ""))
    tokens = tuple(dict.fromkeys(t for value in values for t in VERP.findall(value)))
    message_id = str(original["Message-ID"]).strip() if original is not None and original["Message-ID"] else None
    return Complaint(fields.get("feedback-type", "abuse").lower(), recipient.strip().strip("<>"), tokens, message_id)


def _report_fields(part: EmailMessage) -> dict[str, str]:
    """The `name: value` fields of a message/feedback-report part (Python reads it as one message or a list)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        blocks = payload
        return {k.lower(): str(v).strip() for block in blocks for k, v in block.items()}
    text = payload if isinstance(payload, str) else ""
    return {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in text.splitlines()) if v}


def unsubscribe_request(msg: EmailMessage, domain: str) -> UnsubscribeRequest | None:
    """Mail addressed to `unsubscribe@domain` (or `unsubscribe+TOKEN@domain`); None for any other."""
    pattern = re.compile(rf"^unsubscribe(?:\+([A-Za-z0-9_.-]+))?@{re.escape(domain)}$", re.IGNORECASE)
    addresses = [a for _, a in getaddresses([str(v) for name in ENVELOPE_HEADERS for v in msg.get_all(name, [])])]
    matches = [m for m in (pattern.match(a.strip()) for a in addresses) if m]
    if not matches:
        return None
    subject = str(msg.get("Subject", ""))
    found = [m[1] for m in matches if m[1]] + TOKEN.findall(subject)
    sender = next((a for _, a in getaddresses([str(msg.get("From", ""))]) if a), "")
    return UnsubscribeRequest(tuple(dict.fromkeys(found)), sender)


def fallback_reports(data: bytes, msg: EmailMessage) -> list[BounceReport]:
    """A non-standard bounce: the failed recipients Mailman's detectors find (permanent as status 5.0.0,
    temporary as 4.0.0: both count as soft bounces), with the VERP tokens of the envelope headers and the
    returned message's Message-ID found in the text. [] when the detectors find nobody."""
    from flufl.bounce import all_failures  # imported here: its detectors load on first use only

    temporary, permanent = all_failures(msg)
    if not (temporary or permanent):
        return []
    values = [str(v) for name in ("Return-Path", *ENVELOPE_HEADERS) for v in msg.get_all(name, [])]
    tokens = tuple(dict.fromkeys(t for value in values for t in VERP.findall(value)))
    text = data.decode("utf-8", "replace")
    ids = [m for m in MESSAGE_ID.findall(text) if m != str(msg.get("Message-ID", "")).strip()]
    message_id = ids[0] if ids else None
    found = [(a, "5.0.0") for a in permanent] + [(a, "4.0.0") for a in temporary - permanent]
    return [BounceReport(recipient=_text(address), action="failed", status=status,
                         diagnostic="detected by flufl.bounce (not a delivery status notification)",
                         verp_tokens=tokens, message_id=message_id) for address, status in found]


def _text(address: bytes | str) -> str:
    return address.decode("utf-8", "replace") if isinstance(address, bytes) else str(address)
