"""How each provider signs its webhooks, checked. Pure: the SNS certificate is fetched by the caller.

    SNS        RSA over the documented "string to sign", SHA1 (SignatureVersion 1) or SHA256 (2), with the
               certificate at SigningCertURL (https, host sns.<region>.amazonaws.com)
    SendGrid   ECDSA P-256 / SHA256 over timestamp + body, public key base64 DER
    Mailgun    HMAC-SHA256 of timestamp + token, hex
    Postmark   HTTP basic auth
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
SNS_NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
SNS_SUBSCRIPTION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")


def sns_url_allowed(url: object, extra_hosts: Iterable[str] = ()) -> bool:
    """An SNS certificate or confirmation URL: https on sns.<region>.amazonaws.com; the test-only hosts of
    `[bounces] sns_test_hosts` (host or host:port) also over plain http."""
    if not isinstance(url, str):
        return False
    parts = urlsplit(url)
    extra = {h.strip().lower() for h in extra_hosts if h.strip()}
    if parts.netloc.lower() in extra or (parts.hostname or "").lower() in extra:
        return parts.scheme in ("http", "https")
    return parts.scheme == "https" and bool(SNS_HOST.match((parts.hostname or "").lower())) and parts.port is None


def sns_string_to_sign(message: dict) -> bytes | None:
    """The bytes SNS signed: each present key of the message's type, as "key\\nvalue\\n", in order."""
    kind = message.get("Type")
    if kind == "Notification":
        keys = SNS_NOTIFICATION_KEYS
    elif kind in ("SubscriptionConfirmation", "UnsubscribeConfirmation"):
        keys = SNS_SUBSCRIPTION_KEYS
    else:
        return None
    lines = []
    for key in keys:
        value = message.get(key)
        if key == "Subject" and value is None:
            continue  # a notification without a subject signs without it
        if not isinstance(value, str):
            return None
        lines.append(f"{key}\n{value}\n")
    return "".join(lines).encode("utf-8")


def verify_sns(message: dict, certificate_pem: bytes) -> bool:
    """Whether `message` is signed by the key of `certificate_pem` (SignatureVersion 1: SHA1, 2: SHA256)."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    algorithm = {"1": hashes.SHA1, "2": hashes.SHA256}.get(str(message.get("SignatureVersion")))
    data = sns_string_to_sign(message)
    if algorithm is None or data is None:
        return False
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
        key = x509.load_pem_x509_certificate(certificate_pem).public_key()
    except (ValueError, binascii.Error):
        return False
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(signature, data, padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        return False
    return True


def verify_sendgrid(public_key_b64: str, signature_b64: str, timestamp: str, body: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = serialization.load_der_public_key(base64.b64decode(public_key_b64))
        signature = base64.b64decode(signature_b64, validate=True)
    except (ValueError, binascii.Error, UnsupportedAlgorithm):
        return False
    if not isinstance(key, ec.EllipticCurvePublicKey) or not signature:
        return False
    try:
        key.verify(signature, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def verify_mailgun(signing_key: str, timestamp: str, token: str, signature: str) -> bool:
    expected = hmac.new(signing_key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.lower())


def basic_auth_ok(header: str, user: str, password: str) -> bool:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return False
    name, sep, secret = given.partition(":")
    ok_user = hmac.compare_digest(name.encode(), user.encode())
    return bool(sep) & ok_user & hmac.compare_digest(secret.encode(), password.encode())
