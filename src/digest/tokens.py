"""HMAC-SHA256 tokens for the links in an email: unsubscribe, preferences, archive.

A token names a purpose, a subscriber id and the list, never an email address, and does not expire.
Forged, altered or foreign (other purpose, other list) tokens verify as None.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: str, payload: str) -> str:
    return _b64(hmac.new(key.encode(), payload.encode(), hashlib.sha256).digest()[:18])


def make_token(key: str, purpose: str, subscriber_id: int, list_id: str, extra: str = "") -> str:
    payload = f"{purpose}:{list_id}:{subscriber_id}:{extra}"
    return f"{_b64(f'{subscriber_id}:{extra}'.encode())}.{_mac(key, payload)}"


def read_token(key: str, purpose: str, token: str, list_id: str) -> tuple[int, str] | None:
    """(subscriber id, extra) when `token` is genuine for this purpose and list, else None."""
    try:
        body, mac = token.split(".", 1)
        sub, _, extra = _unb64(body).decode().partition(":")
        subscriber_id = int(sub)
    except (ValueError, UnicodeDecodeError):
        return None
    expected = _mac(key, f"{purpose}:{list_id}:{subscriber_id}:{extra}")
    return (subscriber_id, extra) if hmac.compare_digest(mac.encode(), expected.encode()) else None
