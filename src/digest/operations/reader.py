"""The reader's actions behind the links in every email and the web's machine endpoints: unsubscribe (one
click), the preference centre (read, save, resubscribe), click redirects, engagement events and the health
ping. Each takes the engine and `now` explicitly and returns what the page shows; None means "no such
subscriber" (the web answers 404). The tokens are checked by the caller; `token_key` is what it checks them
against. "View in browser" is `digest.operations.archive.archived_email`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

from digest import store
from digest.errors import InputError
from digest.ingest.events import EventRow
from digest.models import Subscriber, SubscriberStatus

UNSUBSCRIBABLE = (SubscriberStatus.active, SubscriberStatus.pending)


class PreferenceError(ValueError):
    """A preference value that cannot be accepted; the message names the field."""


@dataclass(frozen=True)
class Preferences:
    """One subscriber's preference centre: the row, the topics and countries the store knows, and what the
    last action did (`error` names the bad field; nothing was saved then)."""
    sub: Subscriber
    topics: list[str]
    countries: list[str]
    saved: bool = False
    error: str | None = None
    resubscribed: bool = False


def token_key(engine: Engine, subscriber_id: int) -> str | None:
    """The identity a subscriber's tokens are bound to; None when no subscriber has that id (or was removed)."""
    with store.read_session(engine) as session:
        return store.subscribers.subscriber_token_key(session, subscriber_id=subscriber_id)


def subscriber(engine: Engine, subscriber_id: int) -> Subscriber | None:
    """The subscriber a link names (the unsubscribe page shows whether they can still unsubscribe)."""
    with store.read_session(engine) as session:
        return store.subscribers.subscriber_by_id(session, subscriber_id=subscriber_id)


def unsubscribe(engine: Engine, subscriber_id: int, *, now: datetime) -> Subscriber | None:
    """RFC 8058 one-click: an active or pending subscriber becomes unsubscribed (anyone else is left as they
    are: a bounced or suppressed reader stays so). Idempotent. The subscriber after the change."""
    with store.session_scope(engine) as session:
        if store.subscribers.subscriber_by_id(session, subscriber_id=subscriber_id) is None:
            return None
        store.subscribers.set_subscriber_status(session, subscriber_id=subscriber_id, status=SubscriberStatus.unsubscribed,
                                    now=now, only_from=UNSUBSCRIBABLE)
        return store.subscribers.subscriber_by_id(session, subscriber_id=subscriber_id)


def preferences(engine: Engine, subscriber_id: int, **outcome) -> Preferences | None:
    """The preference centre of one subscriber (`outcome`: the `Preferences` flags of the action just done)."""
    with store.read_session(engine) as session:
        sub = store.subscribers.subscriber_by_id(session, subscriber_id=subscriber_id)
        if sub is None:
            return None
        return Preferences(sub, *store.articles.known_topics_and_countries(session), **outcome)


def save_preferences(engine: Engine, subscriber_id: int, *, parse: Callable[[Subscriber, list[str], list[str]], dict],
                     now: datetime) -> Preferences | None:
    """Store the values `parse(sub, known topics, known countries)` returns; a PreferenceError it raises
    saves nothing and is shown as the page's error."""
    with store.session_scope(engine) as session:
        sub = store.subscribers.subscriber_by_id(session, subscriber_id=subscriber_id)
        if sub is None:
            return None
        known = store.articles.known_topics_and_countries(session)
        try:
            values = parse(sub, *known)
        except PreferenceError as exc:
            return Preferences(sub, *known, error=str(exc))
        store.subscribers.update_preferences(session, subscriber_id=subscriber_id, values=values, now=now)
    return preferences(engine, subscriber_id, saved=True)


def resubscribe(engine: Engine, subscriber_id: int, *, now: datetime) -> Preferences | None:
    """The reader's own way back (from the preference centre or the "you are unsubscribed" page): their token
    proves the mailbox is theirs, so no confirmation email is needed; recorded as their consent."""
    with store.session_scope(engine) as session:
        if store.subscribers.subscriber_by_id(session, subscriber_id=subscriber_id) is None:
            return None
        changed = store.subscribers.resubscribe(session, subscriber_id=subscriber_id, now=now, source="web:resubscribe")
    return preferences(engine, subscriber_id, resubscribed=changed)


def click(engine: Engine, *, subscriber_id: int, delivery_id: int, article_id: int, now: datetime,
          count: bool = True) -> str | None:
    """The article URL of a link that was in that delivery's email (http or https only), else None. With
    `count`, the click is counted once per delivery and article (replays and prefetches add nothing)."""
    with store.session_scope(engine) as session:
        url = store.deliveries.delivery_links(session, delivery_id=delivery_id, subscriber_id=subscriber_id).get(article_id)
        if not url or not url.startswith(("https://", "http://")):
            return None
        if count and store.engagement.count_click(session, delivery_id=delivery_id, article_id=article_id, now=now):
            store.engagement.add_engagement(session, events=[(article_id, now, "click", 1)])
    return url


def add_events(engine: Engine, rows: list[EventRow]) -> int:
    """Store engagement events, all or nothing: InputError names every row whose article is not stored (at
    most 20). The number of hourly buckets written."""
    with store.session_scope(engine) as session:
        by_url = store.articles.article_ids_by_url(session, urls=[r.url for r in rows if r.url])
        known = store.articles.known_article_ids(session, ids=[r.article_id for r in rows if r.article_id])
        missing = [f"body:{r.line}: no stored article {r.url or r.article_id}" for r in rows
                   if (r.url and r.url not in by_url) or (r.article_id and r.article_id not in known)]
        if missing:
            raise InputError("\n".join(missing[:20]) + "\nnothing was stored")
        return store.engagement.add_engagement(session, events=[
            (by_url[r.url] if r.url else r.article_id, r.at, r.kind, r.count) for r in rows])


def ping(engine: Engine) -> None:
    """Raise unless the store answers (GET /healthz)."""
    with store.read_session(engine) as session:
        store.ping(session)
