"""What the REST API's use cases share: `ApiProblem` (an error with its HTTP status, a code and the field it is
about), the opaque cursors of keyset pages, and the documents of a subscriber and a delivery.

The web side (digest.web.api_v1) turns an ApiProblem into `{"error": {"code", "message", "field"}}`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime

from digest.errors import InputError

READER_FIELDS = ("id", "email", "name", "status", "topics", "countries", "frequency", "weekday", "send_at",
                 "timezone", "max_items", "format", "created_at", "updated_at", "consent_at", "consent_source",
                 "paused_until")
SUBSCRIPTION_FIELDS = ("newsletter", "status", "frequency", "weekday", "send_at", "topics", "countries",
                       "max_items", "format", "created_at", "updated_at", "source")
DELIVERY_FIELDS = ("id", "subscriber_id", "status", "smtp_code", "smtp_reply", "message_id", "sent_at", "attempts")
MAX_LIMIT = 200


class ApiProblem(InputError):
    """A request the API refuses: `status` (404, 409, 422, ...), a stable `code`, the `field` it is about."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.field = status, code, field


def invalid(field: str, message: str) -> ApiProblem:
    return ApiProblem(422, "invalid", f"{field}: {message}", field)


def not_found(what: str) -> ApiProblem:
    return ApiProblem(404, "not_found", f"no {what}")


def field_of(exc: ValueError, default: str) -> ApiProblem:
    """A validator's ValueError ("frequency: expected ...") as a 422 naming its field."""
    text = str(exc)
    name, sep, _ = text.partition(":")
    field = name if sep and name.replace("_", "").isalnum() else default
    return ApiProblem(422, "invalid", text if sep else f"{default}: {text}", field)


def plain(value):
    """A stored value as JSON has it: datetimes and dates as they are (the web writes them), enums as text."""
    if value is None or isinstance(value, (bool, int, float, str, list, dict, datetime, date)) \
            and not hasattr(value, "value"):
        return value
    return str(value)


def fields(row, names: Sequence[str]) -> dict:
    return {name: plain(getattr(row, name)) for name in names}


def subscriber_doc(sub, subscriptions) -> dict:
    return {**fields(sub, READER_FIELDS),
            "subscriptions": [fields(s, SUBSCRIPTION_FIELDS) for s in sorted(subscriptions, key=lambda s: s.newsletter)]}


def encode_cursor(value: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"k": value}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """The id a cursor carries; None for no cursor; a 422 naming `cursor` for anything not made by encode_cursor."""
    if not cursor:
        return None
    try:
        found = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["k"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise invalid("cursor", "not a cursor this API made") from None
    if not isinstance(found, int) or isinstance(found, bool) or found < 0:
        raise invalid("cursor", "not a cursor this API made")
    return found


def page_limit(value: str | None, default: int = 50) -> int:
    if value is None or value == "":
        return default
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise invalid("limit", f"expected a whole number from 1 to {MAX_LIMIT}, got {value[:20]!r}")
    return int(value)


def only_fields(body: Mapping, allowed: Sequence[str], where: str = "") -> None:
    """A 422 naming the first field of `body` that is not in `allowed`."""
    for key in body:
        if key not in allowed:
            raise invalid(f"{where}{key}", f"unknown field (expected one of {', '.join(allowed)})")
