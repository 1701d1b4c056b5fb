"""A stand-in for Amazon SNS: an RSA key and a self-signed certificate made here, served over HTTP by
pytest-httpserver (the host is allowed by the test-only `[bounces] sns_test_hosts`), and messages signed as SNS
signs them (SignatureVersion 1: SHA1, 2: SHA256)."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from werkzeug.wrappers import Response

from digest.ingest.signatures import sns_string_to_sign

TOPIC = "arn:aws:sns:eu-west-1:123456789012:digest-ses-events"


def certificate(key) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.eu-west-1.amazonaws.com")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


class SnsSigner:
    def __init__(self, httpserver) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.pem = certificate(self.key)
        self.certificate_fetches = 0
        self.confirmations = 0
        self.server = httpserver
        self.host = f"{httpserver.host}:{httpserver.port}"
        httpserver.expect_request("/SimpleNotificationService-test.pem").respond_with_handler(self._certificate)
        httpserver.expect_request("/confirm").respond_with_handler(self._confirm)

    def _certificate(self, request) -> Response:
        self.certificate_fetches += 1
        return Response(self.pem, content_type="application/x-pem-file")

    def _confirm(self, request) -> Response:
        self.confirmations += 1
        return Response("<ConfirmSubscriptionResponse/>", content_type="text/xml")

    def sign(self, message: dict, version: str) -> dict:
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(sns_string_to_sign(message), padding.PKCS1v15(), algorithm)
        return dict(message, SignatureVersion=version, Signature=base64.b64encode(signature).decode())

    def _base(self, kind: str, topic: str) -> dict:
        return {"Type": kind, "MessageId": secrets.token_hex(16), "TopicArn": topic,
                "Timestamp": "2026-11-27T06:59:40.000Z",
                "SigningCertURL": self.server.url_for("/SimpleNotificationService-test.pem")}

    def notification(self, ses: dict, *, version: str = "1", topic: str = TOPIC) -> dict:
        message = self._base("Notification", topic) | {"Message": json.dumps(ses),
                                                        "UnsubscribeURL": self.server.url_for("/unsubscribe")}
        return self.sign(message, version)

    def subscription_confirmation(self, *, subscribe_url: str | None = None, topic: str = TOPIC) -> dict:
        message = self._base("SubscriptionConfirmation", topic) | {
            "Token": secrets.token_hex(32), "Message": f"You have chosen to subscribe to the topic {topic}.",
            "SubscribeURL": subscribe_url or self.server.url_for("/confirm") + "?Action=ConfirmSubscription"}
        return self.sign(message, "2")
