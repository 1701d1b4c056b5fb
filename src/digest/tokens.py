"""HMAC-SHA256 tokens for the links in an email: unsubscribe, preferences, archive, clicks, VERP bounces.

A token names a purpose, an id (a subscriber's, or a delivery's for bounces) and the list, never an email
address, and does not expire. Its MAC also covers the subscriber's `ident` (their random `token_key`): an id
that was ever handed out again (SQLite reused ids before revision 0003) carries another ident, so a token made
for the first holder verifies for nobody else. Forged, altered or foreign (other purpose, other list, other
ident) tokens verify as None.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable


URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes) -> str:  # base64.urlsafe_b64encode without its two Python-level calls, unpadded
    return binascii.b2a_base64(data, newline=False).translate(URLSAFE).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _payload(purpose: str, list_id: str, subject_id: int, extra: str, ident: str) -> str:
    base = f"{purpose}:{list_id}:{subject_id}:{extra}"
    return f"v2\0{ident}\0{base}" if ident else base  # no ident: the links made before identities existed


def _mac(key: str, payload: str) -> str:
    return _b64(hmac.digest(key.encode(), payload.encode(), "sha256")[:18])  # one-shot: no HMAC object per token


def make_token(key: str, purpose: str, subscriber_id: int, list_id: str, extra: str = "", ident: str = "") -> str:
    payload = _payload(purpose, list_id, subscriber_id, extra, ident)
    return f"{_b64(f'{subscriber_id}:{extra}'.encode())}.{_mac(key, payload)}"


def token_subject(token: str) -> int | None:
    """The id a token names, NOT verified: only to look up the ident that `read_token` then checks."""
    try:
        return int(_unb64(token.split(".", 1)[0]).decode().partition(":")[0])
    except (ValueError, UnicodeDecodeError):
        return None


def read_token(key: str, purpose: str, token: str, list_id: str, ident: str = "") -> tuple[int, str] | None:
    """(id, extra) when `token` is genuine for this purpose, list and ident, else None."""
    try:
        body, mac = token.split(".", 1)
        sub, _, extra = _unb64(body).decode().partition(":")
        subscriber_id = int(sub)
    except (ValueError, UnicodeDecodeError):
        return None
    expected = _mac(key, _payload(purpose, list_id, subscriber_id, extra, ident))
    return (subscriber_id, extra) if hmac.compare_digest(mac.encode(), expected.encode()) else None


def read_bound_token(key: str, purpose: str, token: str, list_id: str,
                     ident_of: Callable[[int], str | None]) -> tuple[int, str] | None:
    """`read_token` with the ident of whoever holds the id now (`ident_of(id)`: None when nobody does)."""
    subject = token_subject(token)
    ident = None if subject is None else ident_of(subject)
    return None if ident is None else read_token(key, purpose, token, list_id, ident)
