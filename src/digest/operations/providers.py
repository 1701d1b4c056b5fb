"""The providers' webhooks: each request authenticated as its provider documents, then its events applied
(`operations.provider_events`). An endpoint whose secret is not configured answers 404; a request unsigned or
wrongly signed 401 (403 for a signed SNS message from a topic not in `[bounces] ses_topic_arns`), and nothing
changes. The replay caches (Mailgun's tokens, SNS certificates) are in memory (`ProviderState`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Engine

from digest.config import Settings
from digest.errors import InputError
from digest.ingest import providers as payloads
from digest.ingest.signatures import (basic_auth_ok, sns_url_allowed, verify_mailgun, verify_sendgrid,
                                      verify_sns)
from digest.operations.provider_events import ProviderOutcome, apply_events, refused

log = logging.getLogger("digest.providers")
MAILGUN_MAX_AGE = 15 * 60  # seconds: an older Mailgun timestamp is refused (and its token need not be kept longer)
SENDGRID_MAX_AGE = 15 * 60
MAX_CERTIFICATE = 100_000


@dataclass
class ProviderState:
    """What the endpoints remember between requests: SNS certificates by URL, Mailgun tokens already used."""

    certificates: dict[str, bytes] = field(default_factory=dict)
    mailgun_tokens: dict[str, float] = field(default_factory=dict)  # token -> its timestamp
    lock: threading.Lock = field(default_factory=threading.Lock)

    def first_use(self, token: str, timestamp: float, now: float) -> bool:
        """Whether a Mailgun token is new (then remembered); tokens older than MAILGUN_MAX_AGE are forgotten."""
        with self.lock:
            for old in [t for t, at in self.mailgun_tokens.items() if at < now - MAILGUN_MAX_AGE]:
                del self.mailgun_tokens[old]
            if token in self.mailgun_tokens:
                return False
            self.mailgun_tokens[token] = timestamp
            return True


def _fetch(url: str) -> bytes:
    import httpx

    response = httpx.get(url, timeout=10, follow_redirects=False)
    response.raise_for_status()
    return response.content[:MAX_CERTIFICATE]


def receive_ses(engine: Engine, settings: Settings, body: bytes, *, now: datetime, state: ProviderState,
                fetch: Callable[[str], bytes] = _fetch) -> ProviderOutcome:
    """`POST /webhooks/ses`: an SNS message (Notification, SubscriptionConfirmation), its signature checked."""
    topics = {t.strip() for t in settings.bounces.ses_topic_arns.split(",") if t.strip()}
    if not topics:
        return refused(404, "not found")
    test_hosts = settings.bounces.sns_test_hosts.split(",")
    try:
        message = payloads.load_json(body, "SNS message")
    except InputError as exc:
        return refused(400, str(exc))
    if not isinstance(message, dict) or not _sns_signed(message, state, test_hosts, fetch):
        return refused(401, "not a message signed by Amazon SNS")
    if message.get("TopicArn") not in topics:
        return refused(403, "SNS topic not in [bounces] ses_topic_arns")
    if message.get("Type") == "SubscriptionConfirmation":
        return _confirm(message, test_hosts, fetch)
    if message.get("Type") != "Notification":
        return ProviderOutcome(200, events=0)
    try:
        notification = payloads.load_json(str(message.get("Message", "")).encode(), "SES notification")
        events = payloads.ses_events(notification if isinstance(notification, dict) else {})
    except InputError as exc:
        return refused(400, str(exc))
    return apply_events(engine, settings, events, now=now)


def _sns_signed(message: dict, state: ProviderState, test_hosts, fetch) -> bool:
    url = message.get("SigningCertURL") or message.get("SigningCertUrl")
    if not sns_url_allowed(url, test_hosts):
        return False
    certificate = state.certificates.get(url)
    if certificate is None:
        try:
            certificate = fetch(url)
        except Exception as exc:  # noqa: BLE001 - any failure to fetch: not verifiable, so refused
            log.warning("SNS signing certificate %s not fetched: %s", url, exc)
            return False
        state.certificates[url] = certificate
    return verify_sns(message, certificate)


def _confirm(message: dict, test_hosts, fetch) -> ProviderOutcome:
    """A new SNS subscription of an allowed topic: confirmed by GETting its SubscribeURL (an SNS host only)."""
    url = message.get("SubscribeURL")
    if not sns_url_allowed(url, test_hosts):
        return refused(400, "SubscribeURL is not an Amazon SNS address")
    try:
        fetch(url)
    except Exception as exc:  # noqa: BLE001 - told to the operator; SNS resends the confirmation
        log.warning("SNS subscription to %s not confirmed: %s (open %s to confirm it)", message.get("TopicArn"),
                    exc, url)
        return refused(502, "the subscription could not be confirmed")
    log.info("SNS subscription to %s confirmed", message.get("TopicArn"))
    return ProviderOutcome(200, message="subscription confirmed")


def receive_sendgrid(engine: Engine, settings: Settings, body: bytes, headers: Mapping[str, str], *,
                     now: datetime) -> ProviderOutcome:
    """`POST /webhooks/sendgrid`: the Signed Event Webhook (ECDSA over timestamp + body)."""
    key = settings.inbound.sendgrid_public_key
    if not key:
        return refused(404, "not found")
    signature = headers.get("x-twilio-email-event-webhook-signature", "")
    timestamp = headers.get("x-twilio-email-event-webhook-timestamp", "")
    if not (signature and timestamp and verify_sendgrid(key, signature, timestamp, body)):
        return refused(401, "missing or wrong SendGrid signature")
    if not _fresh(timestamp, now, SENDGRID_MAX_AGE):
        return refused(401, "SendGrid timestamp too old")
    try:
        events = payloads.sendgrid_events(payloads.load_json(body, "SendGrid payload"))
    except InputError as exc:
        return refused(400, str(exc))
    return apply_events(engine, settings, events, now=now)


def receive_mailgun(engine: Engine, settings: Settings, body: bytes, *, now: datetime,
                    state: ProviderState) -> ProviderOutcome:
    """`POST /webhooks/mailgun`: HMAC-SHA256 of timestamp + token; old timestamps and reused tokens refused."""
    key = settings.inbound.mailgun_signing_key
    if not key:
        return refused(404, "not found")
    try:
        payload = payloads.load_json(body, "Mailgun payload")
    except InputError as exc:
        return refused(400, str(exc))
    signed = payload.get("signature") if isinstance(payload, dict) else None
    if not isinstance(signed, dict) or not all(isinstance(signed.get(k), (str, int)) for k in
                                               ("timestamp", "token", "signature")):
        return refused(401, "no Mailgun signature")
    timestamp, token = str(signed["timestamp"]), str(signed["token"])
    if not verify_mailgun(key, timestamp, token, str(signed["signature"])):
        return refused(401, "wrong Mailgun signature")
    if not _fresh(timestamp, now, MAILGUN_MAX_AGE):
        return refused(401, "Mailgun timestamp too old")
    if not state.first_use(token, float(timestamp), now.timestamp()):
        return refused(401, "Mailgun token already used")
    data = payload.get("event-data")
    if not isinstance(data, dict):
        return refused(400, "Mailgun payload: no event-data")
    return apply_events(engine, settings, [payloads.mailgun_event(data)], now=now)


def receive_postmark(engine: Engine, settings: Settings, body: bytes, authorization: str, *,
                     now: datetime) -> ProviderOutcome:
    """`POST /webhooks/postmark`: HTTP basic auth with DIGEST_POSTMARK_USER / DIGEST_POSTMARK_PASSWORD."""
    user, password = settings.inbound.postmark_user, settings.inbound.postmark_password
    if not (user and password):
        return refused(404, "not found")
    if not basic_auth_ok(authorization, user, password):
        return refused(401, "missing or wrong credentials")
    try:
        event = payloads.postmark_event(payloads.load_json(body, "Postmark payload"))
    except InputError as exc:
        return refused(400, str(exc))
    return apply_events(engine, settings, [event], now=now)


def _fresh(timestamp: str, now: datetime, max_age: int) -> bool:
    try:
        at = float(timestamp)
    except ValueError:
        return False
    return abs(now.timestamp() - at) <= max_age
