"""The event payloads of the sending providers, as each documents them, read into `ProviderEvent`s. Pure.

    Amazon SES   (through SNS)  notificationType | eventType Bounce, Complaint, Delivery; the original's headers in
                                `mail.headers` / `mail.commonHeaders`, the envelope sender (our VERP address) in
                                `mail.source`
    SendGrid     a JSON list of events: bounce, dropped, spamreport, delivered; `smtp-id` is the Message-ID
    Mailgun      `event-data`: failed (severity permanent | temporary), complained, delivered;
                 `message.headers.message-id` (without angle brackets)
    Postmark     RecordType Bounce (Type HardBounce, SoftBounce, ...), SpamComplaint, Delivery; its MessageID is
                 Postmark's own: ours only in `Metadata` (`message-id`, set by an X-PM-Metadata-message-id header),
                 else the event is matched by recipient (`by_recipient`)

Anything else (opens, clicks, deferrals, unknown fields) is `other` and changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from digest.errors import InputError
from digest.ingest.bounces import STATUS, VERP

# Postmark's bounce types that are the recipient's mailbox saying no for good; the rest count as soft
POSTMARK_HARD = frozenset({"HardBounce", "BadEmailAddress", "ManuallyDeactivated"})
POSTMARK_SOFT = frozenset({"SoftBounce", "Transient", "DnsError", "Unknown", "AutoResponder", "Blocked",
                           "DMARCPolicy", "ChallengeVerification", "Undeliverable"})
SENDGRID_DROPPED_HARD = ("bounced address", "invalid")  # reasons of a `dropped` event that mean no such mailbox


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """One provider event about one recipient of one message."""

    kind: str  # bounce | complaint | delivered | other
    recipient: str = ""
    message_ids: tuple[str, ...] = ()  # ours, in the forms the provider may have kept (with and without <>)
    verp_tokens: tuple[str, ...] = ()
    status: str = ""  # the enhanced status code when the provider gives one
    diagnostic: str = ""
    permanent: bool | None = None  # the provider's own hard/soft word
    by_recipient: bool = False  # no id of ours: match the newest delivery to `recipient` (Postmark)


def load_json(body: bytes, what: str) -> object:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InputError(f"{what}: not JSON") from None


def message_id_forms(value: object) -> tuple[str, ...]:
    """A Message-ID as we store it (`<local@domain>`), whether or not the provider kept the angle brackets."""
    text = str(value or "").strip()
    if not text:
        return ()
    bare = text.strip("<>")
    return (f"<{bare}>",) if bare else ()


def tokens_in(*values: object) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t for v in values if isinstance(v, str) for t in VERP.findall(v)))


def _status(value: object) -> str:
    match = STATUS.match(str(value or ""))
    return f"{match[1]}.{match[2]}.{match[3]}" if match else ""


# ── Amazon SES ──────────────────────────────────────────────────────────────────────────────────────

def ses_events(notification: dict) -> list[ProviderEvent]:
    """The events of one SES notification (the `Message` of an SNS Notification, parsed)."""
    kind = notification.get("notificationType") or notification.get("eventType") or ""
    mail = notification.get("mail") or {}
    headers = {str(h.get("name", "")).lower(): h.get("value") for h in mail.get("headers") or [] if isinstance(h, dict)}
    ids = message_id_forms(headers.get("message-id") or (mail.get("commonHeaders") or {}).get("messageId"))
    tokens = tokens_in(mail.get("source"), headers.get("return-path"))
    if kind == "Bounce":
        bounce = notification.get("bounce") or {}
        permanent = bounce.get("bounceType") == "Permanent"
        return [ProviderEvent("bounce", r.get("emailAddress", ""), ids, tokens, _status(r.get("status")),
                              " ".join(str(r.get("diagnosticCode") or bounce.get("bounceSubType") or "").split()),
                              permanent) for r in bounce.get("bouncedRecipients") or []]
    if kind == "Complaint":
        complaint = notification.get("complaint") or {}
        if complaint.get("complaintFeedbackType") == "not-spam":
            return [ProviderEvent("other")]
        return [ProviderEvent("complaint", r.get("emailAddress", ""), ids, tokens)
                for r in complaint.get("complainedRecipients") or []]
    if kind == "Delivery":
        return [ProviderEvent("delivered", r, ids, tokens) for r in (notification.get("delivery") or {}).get(
            "recipients") or []]
    return [ProviderEvent("other")]


# ── SendGrid ────────────────────────────────────────────────────────────────────────────────────────

def sendgrid_events(payload: object) -> list[ProviderEvent]:
    if not isinstance(payload, list):
        raise InputError("SendGrid payload: expected a JSON list of events")
    return [_sendgrid(e) for e in payload if isinstance(e, dict)]


def _sendgrid(event: dict) -> ProviderEvent:
    name, email = event.get("event"), str(event.get("email") or "")
    ids = message_id_forms(event.get("smtp-id"))
    reason = " ".join(str(event.get("reason") or "").split())
    if name == "bounce":
        blocked = event.get("type") == "blocked"  # refused for the sender's reputation or content: not the reader
        status = _status(event.get("status")) or ("5.7.1" if blocked else "")
        return ProviderEvent("bounce", email, ids, (), status, reason, None if blocked else True)
    if name == "dropped":  # never sent: only "Bounced Address" / "Invalid" say something about the mailbox
        if reason.lower().startswith(SENDGRID_DROPPED_HARD):
            return ProviderEvent("bounce", email, ids, (), "", f"dropped: {reason}", True)
        if reason.lower().startswith("spam reporting address"):
            return ProviderEvent("complaint", email, ids)
        return ProviderEvent("other")
    if name == "spamreport":
        return ProviderEvent("complaint", email, ids)
    if name == "delivered":
        return ProviderEvent("delivered", email, ids)
    return ProviderEvent("other")


# ── Mailgun ─────────────────────────────────────────────────────────────────────────────────────────

def mailgun_event(data: dict) -> ProviderEvent:
    """The `event-data` of one Mailgun webhook."""
    name, recipient = data.get("event"), str(data.get("recipient") or "")
    headers = (data.get("message") or {}).get("headers") or {}
    ids = message_id_forms(headers.get("message-id"))
    tokens = tokens_in(data.get("envelope", {}).get("sender") if isinstance(data.get("envelope"), dict) else None)
    if name == "failed":
        status = data.get("delivery-status") or {}
        diagnostic = " ".join(f"{status.get('code', '')} {status.get('message') or status.get('description') or ''}"
                              .split())
        return ProviderEvent("bounce", recipient, ids, tokens, _status(status.get("enhanced-code")), diagnostic,
                             data.get("severity") == "permanent")
    if name == "complained":
        return ProviderEvent("complaint", recipient, ids, tokens)
    if name == "delivered":
        return ProviderEvent("delivered", recipient, ids, tokens)
    return ProviderEvent("other")


# ── Postmark ────────────────────────────────────────────────────────────────────────────────────────

def postmark_event(record: object) -> ProviderEvent:
    if not isinstance(record, dict):
        raise InputError("Postmark payload: expected a JSON object")
    kind, meta = record.get("RecordType"), record.get("Metadata") or {}
    ids = message_id_forms(meta.get("message-id") or meta.get("Message-ID")) if isinstance(meta, dict) else ()
    email = str(record.get("Email") or record.get("Recipient") or "")
    if kind == "Bounce":
        kind_name = str(record.get("Type") or "")
        if kind_name == "SpamComplaint":
            return ProviderEvent("complaint", email, ids, by_recipient=not ids)
        if kind_name not in POSTMARK_HARD | POSTMARK_SOFT:
            return ProviderEvent("other")  # Subscribe, Unsubscribe, OpenRelayTest, ...: not a delivery failure
        diagnostic = " ".join(str(record.get("Details") or record.get("Description") or "").split())
        status = "5.7.1" if kind_name == "DMARCPolicy" else ""
        return ProviderEvent("bounce", email, ids, (), status, diagnostic, kind_name in POSTMARK_HARD,
                             by_recipient=not ids)
    if kind == "SpamComplaint":
        return ProviderEvent("complaint", email, ids, by_recipient=not ids)
    if kind == "Delivery":
        return ProviderEvent("delivered", email, ids, by_recipient=not ids)
    return ProviderEvent("other")
