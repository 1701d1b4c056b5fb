"""The REST API's subscribers: create (double opt-in through `signup.sign_up`, or confirmed with the
operator's record of consent), get, look up by address, list a keyset page, update preferences and
subscriptions, unsubscribe (one newsletter or all: the reader's own use cases), erase (`digest subscribers
erase`). Each returns the subscriber's document (`api_common.subscriber_doc`) or raises an ApiProblem.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.ingest.subscribers import newsletter_keys, normalize_email, subscriber_from, subscriber_row
from digest.models import SubscriberStatus
from digest.operations import signup
from digest.operations.api_common import (
    ApiProblem, decode_cursor, encode_cursor, field_of, invalid, not_found, only_fields, page_limit, subscriber_doc,
)
from digest.operations.subscribers import defaults
from digest.store import readers as reader_store

OWN_PREFERENCES = ("topics", "countries", "frequency", "weekday", "send_at", "timezone", "max_items", "format")
CREATE_FIELDS = ("email", "name", "newsletters", "preferences", "consent", "status")
STATUSES = tuple(str(s) for s in SubscriberStatus)


@dataclass(frozen=True)
class Created:
    subscriber: dict
    confirmation_queued: bool  # a confirmation email is queued (send it: signup.send_confirmations)


def _load(session, subscriber_id: int) -> dict | None:
    sub = store.subscribers.subscriber_by_id(session, subscriber_id=subscriber_id)
    if sub is None:
        return None
    return subscriber_doc(sub, store.subscriptions.subscriptions_of(session, subscriber_ids=[sub.id]).get(sub.id, []))


def get_subscriber(engine: Engine, subscriber_id: int) -> dict:
    with store.read_session(engine) as session:
        found = _load(session, subscriber_id)
    if found is None:
        raise not_found(f"subscriber {subscriber_id}")
    return found


def _email(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise invalid("email", "required: a string")
    try:
        return normalize_email(value)
    except ValueError as exc:
        raise field_of(exc, "email") from None


def find_subscriber(engine: Engine, email: str) -> dict:
    """The subscriber with that address, in any case."""
    address = _email(email)
    with store.read_session(engine) as session:
        sub = store.subscribers.find_subscriber(session, email=address)
        found = None if sub is None else _load(session, sub.id)
    if found is None:
        raise not_found(f"subscriber {address}")
    return found


def list_subscribers(engine: Engine, *, email: str | None = None, status: str = "", newsletter: str = "",
                     cursor: str | None = None, limit: str | None = None) -> dict:
    """A page by id (`cursor`: the one the page before gave), of `status`, actively subscribed to `newsletter`;
    with `email`, the one subscriber of that address (any case) or none."""
    if email is not None:
        address = _email(email)
        with store.read_session(engine) as session:
            sub = store.subscribers.find_subscriber(session, email=address)
            found = None if sub is None else _load(session, sub.id)
        return {"subscribers": [found] if found else [], "next_cursor": None}
    if status and status not in STATUSES:
        raise invalid("status", f"unknown status {status[:40]!r} (one of {', '.join(STATUSES)})")
    after, size = decode_cursor(cursor) or 0, page_limit(limit)
    with store.read_session(engine) as session:
        rows = reader_store.reader_page(session, status=status or None, newsletter=newsletter or None, after=after,
                                        size=size + 1)
        page = rows[:size]
        subs = store.subscriptions.subscriptions_of(session, subscriber_ids=[r.id for r in page])
    return {"subscribers": [subscriber_doc(r, subs.get(r.id, [])) for r in page],
            "next_cursor": encode_cursor(page[-1].id) if len(rows) > size else None}


def checked_preferences(value: object, base: Mapping, where: str, allowed=OWN_PREFERENCES, *,
                        nullable: bool = False) -> dict:
    """The preferences given, checked as a whole over `base`; 422 naming one. A new frequency brings the weekday
    it implies. `nullable` (a subscription's): null puts the reader's own value back."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(where.rstrip("."), "expected an object")
    only_fields(value, allowed, where)
    if not nullable and (empty := next((k for k, v in value.items() if v is None), None)):
        raise invalid(f"{where}{empty}", "may not be null (give a value, or [] for no topics or countries)")
    given = {k: v for k, v in value.items() if v is not None}
    try:
        row = subscriber_row({**base, **given}, defaults={})
    except ValueError as exc:
        problem = field_of(exc, "preferences")
        raise ApiProblem(422, "invalid", f"{where}{problem}", f"{where}{problem.field}") from None
    keys = [*value, *(("weekday",) if "frequency" in given else ())]
    return {k: (None if k in value and value[k] is None else getattr(row, k)) for k in dict.fromkeys(keys)}


def _consent(value: object, *, now: datetime, required: bool) -> tuple[str, datetime]:
    if value is None and not required:
        return "", now
    if not isinstance(value, dict):
        raise invalid("consent", "expected an object {source, at}" + (" (required with status confirmed)"
                                                                     if required else ""))
    only_fields(value, ("source", "at"), "consent.")
    source = value.get("source")
    if not isinstance(source, str) or not source.strip() or len(source) > 200:
        raise invalid("consent.source", "required: where the reader agreed, 1-200 characters")
    at = value.get("at")
    if at is None:
        return source.strip(), now
    try:
        moment = datetime.fromisoformat(str(at))
    except ValueError:
        raise invalid("consent.at", f"expected an ISO 8601 time with its zone, got {str(at)[:40]!r}") from None
    if moment.tzinfo is None or moment > now + timedelta(minutes=5):
        raise invalid("consent.at", "expected a past ISO 8601 time with its zone (e.g. 2026-12-01T09:30:00Z)")
    return source.strip(), moment


def _newsletters(settings: Settings, value: object) -> tuple[str, ...]:
    if value is None:
        return (settings.newsletter().key,)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise invalid("newsletters", "expected a non-empty list of newsletter keys")
    try:
        return newsletter_keys(";".join(value), [n.key for n in settings.newsletters])
    except ValueError as exc:
        raise field_of(exc, "newsletters") from None


def _check_new(engine: Engine, email: str) -> None:
    with store.read_session(engine) as session:
        sub = store.subscribers.find_subscriber(session, email=email)
        suppressed = sub is None and store.subscribers.is_suppressed(session, email=email)
    if sub is not None:
        raise ApiProblem(409, "exists", f"email: {email} is subscriber {sub.id} already ({sub.status})", "email")
    if suppressed:
        raise ApiProblem(409, "suppressed", f"email: {email} was erased or suppressed; re-adding needs "
                                            "`digest subscribers add --resubscribe --consent-source`", "email")


def create_subscriber(settings: Settings, engine: Engine, body: object, *, may_confirm: bool,
                      now: datetime) -> Created:
    """A new subscriber: pending with a confirmation queued (the web sign-up's double opt-in), or, with
    `"status": "confirmed"` and a key that `may_confirm`, active with the consent given."""
    if not isinstance(body, dict):
        raise invalid("body", "expected a JSON object")
    only_fields(body, CREATE_FIELDS)
    email = _email(body.get("email"))
    name = body.get("name") or ""
    if not isinstance(name, str) or len(name) > 200:
        raise invalid("name", "expected a string of at most 200 characters")
    status = body.get("status") or "pending"
    if status not in ("pending", "confirmed"):
        raise invalid("status", f"expected pending or confirmed, got {str(status)[:20]!r}")
    if status == "confirmed" and not may_confirm:
        raise ApiProblem(403, "forbidden", "status: confirmed needs a key with the scope subscribers:confirmed",
                         "status")
    prefs = checked_preferences(body.get("preferences"), {"email": email}, "preferences.")
    keys = _newsletters(settings, body.get("newsletters"))
    source, at = _consent(body.get("consent"), now=now, required=status == "confirmed")
    _check_new(engine, email)
    if status == "pending":
        queued = signup.sign_up(engine, settings, email=email, name=name, source=source, now=now, newsletters=keys,
                                channel="api", preferences=prefs)
        return Created(find_subscriber(engine, email), queued)
    _add_confirmed(settings, engine, email, name, prefs, keys, (source, at), now)
    return Created(find_subscriber(engine, email), False)


def _add_confirmed(settings: Settings, engine: Engine, email: str, name: str, prefs: dict, keys, consent,
                   now: datetime) -> None:
    sub = subscriber_from({**defaults(settings), **{k: v for k, v in prefs.items() if v is not None},
                           "email": email, "name": signup.display_name(name)}, defaults=defaults(settings))
    with store.session_scope(engine) as session:
        counts = store.subscribers.upsert_subscribers(session, subscribers=[sub], now=now, newsletters=keys,
                                                      source="api")
        row = store.subscribers.find_subscriber(session, email=email)
        if counts["suppressed"] or row is None:
            raise ApiProblem(409, "suppressed", f"email: {email} is suppressed", "email")
        store.subscribers.update_preferences(session, subscriber_id=row.id, now=now, values={
            "consent_at": consent[1], "consent_source": f"api {consent[0]}"[:200]})
