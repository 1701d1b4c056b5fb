"""The reader's actions behind the links in every email and the web's machine endpoints: unsubscribe (one
click: the newsletter the token names, only that one), the preference centre (every newsletter: join, leave,
leave all, each subscription's own choices; the reader's own preferences; resubscribe), click redirects,
engagement events and the health ping. Each takes the engine and `now` explicitly and returns what the page shows; None means "no such
subscriber" (the web answers 404). The tokens are checked by the caller; `token_key` is what it checks them
against. "View in browser" is `digest.operations.archive.archived_email`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.errors import InputError
from digest.ingest.events import EventRow
from digest.models import Subscriber, SubscriberStatus, SubscriptionStatus
from digest.operations.letters import Leave, Letter, letter_named, letters_of, newsletter_named

UNSUBSCRIBABLE = (SubscriberStatus.active, SubscriberStatus.pending)
LEAVABLE = (*UNSUBSCRIBABLE, SubscriberStatus.unsubscribed)  # who may leave a newsletter (not the suppressed)


class PreferenceError(ValueError):
    """A preference value that cannot be accepted; the message names the field."""


@dataclass(frozen=True)
class Preferences:
    """One subscriber's preference centre: the row, the topics and countries the store knows, every newsletter
    (`letters`) and what the last action did (`error` names the bad field; nothing was saved then; `notice`:
    joined | left | left-all, of the newsletter named `notice_name`)."""
    sub: Subscriber
    topics: list[str]
    countries: list[str]
    saved: bool = False
    error: str | None = None
    resubscribed: bool = False
    letters: tuple[Letter, ...] = ()
    notice: str = ""
    notice_name: str = ""


def token_key(engine: Engine, subscriber_id: int) -> str | None:
    """The identity a subscriber's tokens are bound to; None when no subscriber has that id (or was removed)."""
    with store.read_session(engine) as session:
        return store.subscribers.subscriber_token_key(session, subscriber_id=subscriber_id)


def leaving(engine: Engine, settings: Settings, subscriber_id: int, *, newsletter: str = "") -> Leave | None:
    """What the one-click page of a token (its `extra`: `newsletter`) shows before the button is pressed."""
    key, name = newsletter_named(settings, newsletter)
    with store.read_session(engine) as session:
        sub = store.subscribers.subscriber_by_id(session, subscriber_id=subscriber_id)
        if sub is None:
            return None
        row = store.subscriptions.find_subscription(session, subscriber_id=subscriber_id, newsletter=key)
        return Leave(sub, key, name, row is not None and row.status == SubscriptionStatus.active)


def unsubscribe(engine: Engine, settings: Settings, subscriber_id: int, *, newsletter: str = "",
                now: datetime) -> Leave | None:
    """RFC 8058 one-click: the reader leaves the newsletter the token names (`newsletter`, its extra; "" in
    links made before newsletters existed: the first), and only that one: their status and their other
    subscriptions stay. A key no longer configured is left if the reader has that subscription. A bounced
    or complained reader is left as they are. Idempotent. What the page shows after the change."""
    key, name = newsletter_named(settings, newsletter)
    with store.session_scope(engine) as session:
        sub = store.subscribers.subscriber_by_id(session, subscriber_id=subscriber_id)
        if sub is None:
            return None
        row = store.subscriptions.find_subscription(session, subscriber_id=subscriber_id, newsletter=key)
        known = any(n.key == key for n in settings.newsletters)
        if sub.status in LEAVABLE and (row is not None or known):
            if store.subscriptions.set_status(session, subscriber_id=subscriber_id, newsletter=key,
                                              status=SubscriptionStatus.unsubscribed, now=now):
                store.webhooks.emit_subscriber(session, type="subscriber.unsubscribed", subscriber_id=subscriber_id,
                                               now=now, newsletter=key, source="reader")
    return leaving(engine, settings, subscriber_id, newsletter=newsletter)


def preferences(engine: Engine, settings: Settings, subscriber_id: int, **outcome) -> Preferences | None:
    """The preference centre of one subscriber (`outcome`: the `Preferences` flags of the action just done)."""
    with store.read_session(engine) as session:
        sub = store.subscribers.subscriber_by_id(session, subscriber_id=subscriber_id)
        if sub is None:
            return None
        rows = store.subscriptions.subscriptions_of(session, subscriber_ids=[subscriber_id]).get(subscriber_id, [])
        letters = letters_of(settings, rows)
        return Preferences(sub, *store.articles.known_topics_and_countries(session), letters=letters, **outcome)


def save_preferences(engine: Engine, settings: Settings, subscriber_id: int, *,
                     parse: Callable[[Subscriber, list[str], list[str]], dict], now: datetime) -> Preferences | None:
    """Store the values `parse(sub, known topics, known countries)` returns; a PreferenceError it raises
    saves nothing and is shown as the page's error."""
    with store.session_scope(engine) as session:
        sub = store.subscribers.subscriber_by_id(session, subscriber_id=subscriber_id)
        if sub is None:
            return None
        try:
            values = parse(sub, *store.articles.known_topics_and_countries(session))
        except PreferenceError as exc:
            error = str(exc)
        else:
            error = None
            store.subscribers.update_preferences(session, subscriber_id=subscriber_id, values=values, now=now)
    if error is not None:
        return replace(preferences(engine, settings, subscriber_id), error=error)
    return preferences(engine, settings, subscriber_id, saved=True)


def resubscribe(engine: Engine, settings: Settings, subscriber_id: int, *, now: datetime) -> Preferences | None:
    """The reader's own way back (from the preference centre or the "you are unsubscribed" page): their token
    proves the mailbox is theirs, so no confirmation email is needed; recorded as their consent. A reader
    who had left every newsletter joins the first again."""
    with store.session_scope(engine) as session:
        if store.subscribers.subscriber_by_id(session, subscriber_id=subscriber_id) is None:
            return None
        changed = store.subscribers.resubscribe(session, subscriber_id=subscriber_id, now=now, source="web:resubscribe")
        rows = store.subscriptions.subscriptions_of(session, subscriber_ids=[subscriber_id]).get(subscriber_id, [])
        if changed and not any(r.status == SubscriptionStatus.active for r in rows):
            store.subscriptions.set_status(session, subscriber_id=subscriber_id, newsletter=settings.newsletter().key,
                                           status=SubscriptionStatus.active, now=now)
    return preferences(engine, settings, subscriber_id, resubscribed=changed)


def join(engine: Engine, settings: Settings, subscriber_id: int, *, newsletter: str,
         now: datetime) -> Preferences | None:
    """The reader joins (or rejoins) a configured newsletter from their own page: their token is the consent.
    A reader who was unsubscribed becomes active again (`resubscribe`); a suppressed one stays as they are."""
    if not any(n.key == newsletter for n in settings.newsletters):
        return preferences(engine, settings, subscriber_id, error=f"newsletter: unknown newsletter {newsletter[:40]!r}")
    with store.session_scope(engine) as session:
        sub = store.subscribers.subscriber_by_id(session, subscriber_id=subscriber_id)
        if sub is None:
            return None
        allowed = sub.status in LEAVABLE
        before = store.subscriptions.find_subscription(session, subscriber_id=subscriber_id, newsletter=newsletter)
        rejoined = before is not None and before.status == SubscriptionStatus.unsubscribed
        if allowed:
            store.subscribers.resubscribe(session, subscriber_id=subscriber_id, now=now, source="web:resubscribe")
            store.subscriptions.set_status(session, subscriber_id=subscriber_id, newsletter=newsletter,
                                           status=SubscriptionStatus.active, now=now)
    if not allowed:
        return preferences(engine, settings, subscriber_id)
    return preferences(engine, settings, subscriber_id, notice="rejoined" if rejoined else "joined",
                       notice_name=newsletter_named(settings, newsletter)[1])


def leave(engine: Engine, settings: Settings, subscriber_id: int, *, newsletter: str,
          now: datetime) -> Preferences | None:
    """The reader leaves one newsletter (the one-click path, from the preference centre)."""
    if unsubscribe(engine, settings, subscriber_id, newsletter=newsletter, now=now) is None:
        return None
    return preferences(engine, settings, subscriber_id, notice="left",
                       notice_name=newsletter_named(settings, newsletter)[1])


def leave_everything(engine: Engine, settings: Settings, subscriber_id: int, *, now: datetime
                     ) -> Preferences | None:
    """"Leave all": every subscription unsubscribed and the reader's own status `unsubscribed` (so that an
    import keeps them suppressed). A bounced or complained reader stays so."""
    with store.session_scope(engine) as session:
        sub = store.subscribers.subscriber_by_id(session, subscriber_id=subscriber_id)
        if sub is None:
            return None
        if sub.status in LEAVABLE:
            left = store.subscriptions.leave_all(session, subscriber_id=subscriber_id, now=now)
            if store.subscribers.set_subscriber_status(session, subscriber_id=subscriber_id,
                                                       status=SubscriberStatus.unsubscribed, now=now,
                                                       only_from=UNSUBSCRIBABLE) or left:
                store.webhooks.emit_subscriber(session, type="subscriber.unsubscribed", subscriber_id=subscriber_id,
                                               now=now, newsletter=None, source="reader: leave all")
    return preferences(engine, settings, subscriber_id, notice="left-all")


def save_letter_preferences(engine: Engine, settings: Settings, subscriber_id: int, *, newsletter: str,
                            parse: Callable[[Letter, list[str], list[str]], dict], now: datetime
                            ) -> Preferences | None:
    """One subscription's own preferences: `parse(letter, topics, countries)` (the choices within the
    newsletter's scope) returns them; a PreferenceError saves nothing. Only for a newsletter the reader takes."""
    found = preferences(engine, settings, subscriber_id)
    if found is None:
        return None
    letter = letter_named(found.letters, newsletter)
    if letter is None or not letter.joined:
        return replace(found, error="newsletter: join this newsletter first")
    try:
        values = parse(letter, *scope_choices(letter, found.topics, found.countries))
    except PreferenceError as exc:
        return replace(found, error=str(exc), notice_name=letter.name)
    with store.session_scope(engine) as session:
        store.subscriptions.set_preferences(session, subscriber_id=subscriber_id, newsletter=newsletter,
                                            values=values, now=now)
    return preferences(engine, settings, subscriber_id, saved=True, notice="saved", notice_name=letter.name)


def scope_choices(letter: Letter, topics: list[str], countries: list[str]) -> tuple[list[str], list[str]]:
    """The topics and countries a reader may choose within a newsletter: its scope, or all the store's."""
    return list(letter.topics) or topics, list(letter.countries) or countries


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
