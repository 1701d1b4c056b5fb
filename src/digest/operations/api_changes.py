"""The REST API's changes to one subscriber: their preferences and subscriptions (PATCH), unsubscribing them
from one newsletter or all (the reader's own use cases in `operations.reader`), and erasing them (the
`erase_subscriber` of `digest subscribers erase`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.models import PREFERENCES, SubscriptionStatus
from digest.operations import reader
from digest.operations import subscribers as subscriber_ops
from digest.operations.api_common import READER_FIELDS, ApiProblem, fields, invalid, not_found, only_fields
from digest.operations.api_subscribers import OWN_PREFERENCES, checked_preferences, get_subscriber

SUBSCRIPTION_CHANGES = ("status", *PREFERENCES)


def _changes(settings: Settings, base: dict, body: object) -> tuple[dict, dict[str, tuple[str | None, dict]]]:
    """(the reader's own preferences, newsletter → (status or None, its preferences)), each checked."""
    if not isinstance(body, dict):
        raise invalid("body", "expected a JSON object")
    only_fields(body, ("preferences", "subscriptions"))
    own = checked_preferences(body.get("preferences"), base, "preferences.")
    letters = body.get("subscriptions") or {}
    if not isinstance(letters, dict):
        raise invalid("subscriptions", "expected an object: newsletter key → {status, preferences}")
    known = {n.key for n in settings.newsletters}
    changes = {}
    for key, change in letters.items():
        where = f"subscriptions.{key}"
        if key not in known:
            raise invalid(where, f"unknown newsletter (configured: {', '.join(sorted(known))})")
        if not isinstance(change, dict):
            raise invalid(where, "expected an object {status, frequency, topics, ...}")
        only_fields(change, SUBSCRIPTION_CHANGES, f"{where}.")
        status = change.get("status")
        if status not in (None, "active", "unsubscribed"):
            raise invalid(f"{where}.status", "expected active or unsubscribed")
        prefs = {k: v for k, v in change.items() if k != "status"}
        changes[key] = (status, checked_preferences(prefs, {**base, **own}, f"{where}.", PREFERENCES,
                                                       nullable=True))
    return own, changes


def update_subscriber(settings: Settings, engine: Engine, subscriber_id: int, body: object, *,
                      now: datetime) -> dict:
    """PATCH: the reader's own preferences and each named subscription's status and preferences (null: back
    to the reader's own), all or nothing. Joining a newsletter is for an active or pending reader only."""
    current = get_subscriber(engine, subscriber_id)
    own, changes = _changes(settings, {k: current[k] for k in ("email", *OWN_PREFERENCES)}, body)
    taken = {s["newsletter"]: s["status"] for s in current["subscriptions"]}
    for key, (status, prefs) in changes.items():
        joined = (status or taken.get(key)) == "active"
        if prefs and not joined:
            raise invalid(f"subscriptions.{key}", "the reader does not take this newsletter: set status active")
        if status == "active" and taken.get(key) != "active" and current["status"] not in ("active", "pending"):
            raise ApiProblem(409, "suppressed", f"subscriptions.{key}: the reader is {current['status']}; "
                             "re-adding needs their consent", f"subscriptions.{key}")
    with store.session_scope(engine) as session:
        if own:
            store.subscribers.update_preferences(session, subscriber_id=subscriber_id, values=own, now=now)
        for key, (status, prefs) in changes.items():
            if status is not None:
                store.subscriptions.set_status(session, subscriber_id=subscriber_id, newsletter=key,
                                               status=SubscriptionStatus(status), now=now)
            if prefs:
                store.subscriptions.set_preferences(session, subscriber_id=subscriber_id, newsletter=key,
                                                    values=prefs, now=now)
    return get_subscriber(engine, subscriber_id)


def unsubscribe_subscriber(settings: Settings, engine: Engine, subscriber_id: int, body: object, *,
                           now: datetime) -> dict:
    """`{"newsletter": KEY}`: that one only (the one-click unsubscribe); no newsletter: all of them and the
    reader's own status (the preference centre's "leave all"). A bounced or complained reader stays so."""
    body = {} if body is None else body
    if not isinstance(body, dict):
        raise invalid("body", "expected a JSON object")
    only_fields(body, ("newsletter",))
    key = body.get("newsletter")
    if key is not None and key not in {n.key for n in settings.newsletters}:
        raise invalid("newsletter", f"unknown newsletter {str(key)[:40]!r}")
    if key is None:
        done = reader.leave_everything(engine, settings, subscriber_id, now=now)
    else:
        done = reader.unsubscribe(engine, settings, subscriber_id, newsletter=key, now=now)
    if done is None:
        raise not_found(f"subscriber {subscriber_id}")
    return get_subscriber(engine, subscriber_id)


def erase_subscriber(settings: Settings, engine: Engine, subscriber_id: int, *, now: datetime) -> dict:
    """Forget the reader: their row, deliveries and items; only a hash of the address stays (suppressed)."""
    with store.read_session(engine) as session:
        sub = store.subscribers.subscriber_by_id(session, subscriber_id=subscriber_id)
        found = None if sub is None else fields(sub, READER_FIELDS)
    if found is None:
        raise not_found(f"subscriber {subscriber_id}")
    done = subscriber_ops.erase_subscriber(settings, found["email"], now=now, engine=engine)
    return {"id": subscriber_id, "erased": True, "deliveries": max(done.deliveries, 0)}
