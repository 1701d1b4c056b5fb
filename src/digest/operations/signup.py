"""Double opt-in, the use cases behind `POST /subscribe` and `/confirm/TOKEN`: `sign_up` stores a pending
subscriber and queues a `confirmation` row (at most one per address per `[web] confirm_window_hours`);
`confirmation_status` and `confirm` answer the emailed link. The email is queued before it is sent (like every
delivery), then built, signed and sent like every other message (`build_message`, `sign`, a Mailer) by
`send_confirmations`, a step that the web app runs after answering a sign-up (and every minute), and that the
daemon runs too.

The link carries its issue time inside the token, so it expires; a name that looks like a URL or carries markup
is never put into the email (nor into its To: header)."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from babel.lists import format_list
from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.config.newsletters import Newsletter
from digest.message import build_message, make_message_id, sign
from digest.ingest.subscribers import subscriber_from
from digest.models import ConfirmationStatus, SubscriberRecord, SubscriberStatus, subscriber_record
from digest.i18n import format_number, text_direction, translations
from digest.render import make_environment
from digest.send import Mailer, OutgoingMessage, SendResult
from digest.urls import confirm_url, unsubscribe_url

log = logging.getLogger("digest.confirm")

MAX_ATTEMPTS = 3  # temporary failures (4xx, no connection) before a confirmation is given up
INTERRUPTED = timedelta(minutes=10)  # a row `sending` this long belongs to a sender that died
URLISH = re.compile(r"://|\bwww\.|@|\b[\w-]+\.[^\W\d_]{2,63}\b", re.IGNORECASE)  # any script's TLD (.рф)
IDNA_DOTS = str.maketrans("\u3002\uff0e\uff61", "...")  # full stops that IDNA (UTS 46) reads as "."
MARKUP = set("<>&\"`{}[]\\/|=*#%$^~")  # an apostrophe is a name's (O'Neill)
MAX_NAME = 60


def display_name(name: str) -> str:
    """`name` when it reads as a person's name; "" when it looks like a URL or a domain, carries markup or
    control characters, or is long: such a name is never echoed in an email the list signs."""
    name = " ".join((name or "").split())
    folded = unicodedata.normalize("NFKC", name).translate(IDNA_DOTS)  # ｅｖｉｌ．ｅｘａｍｐｌｅ reads evil.example
    if (len(name) > MAX_NAME or URLISH.search(folded) or any(c in MARKUP for c in folded)
            or any(unicodedata.category(c)[0] == "C" for c in name)):
        return ""
    return name


def issued_mark(issued_at: datetime) -> str:
    """What a confirmation token carries in its `extra`: the issue time, whole epoch seconds."""
    return str(int(issued_at.timestamp()))


def link_expired(extra: str, *, now: datetime, days: float) -> bool:
    """True unless `extra` is an issue time no older than `days` (and not in the future)."""
    if not extra.isdigit():
        return True
    age = now.timestamp() - int(extra)
    return not -300 <= age <= days * 86400


def confirmation_message(settings: Settings, sub: SubscriberRecord, *, now: datetime,
                         issued_at: datetime | None = None, language: str | None = None,
                         newsletters: Sequence[Newsletter] = ()) -> OutgoingMessage:
    """The email for `sub`, about the `newsletters` they chose (default: the first), from the first of them and
    in its language (or `language`); its link was issued at `issued_at` (default `now`) and expires from then."""
    letters = list(newsletters) or [settings.newsletter()]
    unsubscribe = unsubscribe_url(settings, sub.id, sub.token_key, newsletter=letters[0].key)
    link = confirm_url(settings, sub.id, issued_mark(issued_at or now), sub.token_key)
    name = display_name(sub.name)
    lang = language or letters[0].language
    gettext = translations(lang).gettext
    days = settings.web.confirm_link_days
    sender = replace(letters[0].sender(settings.sender), list_name=format_list([n.name for n in letters], locale=lang))
    context = {"lang": lang, "dir": text_direction(lang), "sender": sender,
               "first_name": (name.split() or [""])[0], "confirm_url": link, "expires_days": days,
               "days": format_number(round(days), lang),
               "subject": gettext("Confirm your subscription to %(list)s") % {"list": sender.list_name}}
    env = make_environment(settings.templates_dir, lang)
    domain = settings.sender_domain
    message_id = make_message_id(domain, "confirm")
    data = build_message(sender=replace(sender, list_name=letters[0].name), to_email=sub.email, to_name=name,
                         subject=context["subject"],
                         text=env.get_template("confirm.txt").render(context),
                         html=env.get_template("confirm.html").render(context),
                         unsubscribe_url=unsubscribe, unsubscribe_token=unsubscribe.rsplit("/", 1)[1],
                         message_id=message_id, date=now)
    return OutgoingMessage(f"bounces@{domain}", sub.email, message_id, sign(data, settings))


def sign_up(engine: Engine, settings: Settings, *, email: str, name: str, source: str, now: datetime,
            newsletters: Sequence[str] = (), channel: str = "web:/subscribe",
            preferences: Mapping[str, object] | None = None) -> bool:
    """Store a sign-up of the (already normalised) `email` as pending, subscribed to `newsletters` (default:
    the first); True when a confirmation was queued. An address already in the store (active, unsubscribed,
    suppressed) is left as it is and gets nothing. `channel` says where it came from (the REST API: "api"),
    `preferences` the reader's own choices (checked by the caller: subscriber_from raises on a bad one)."""
    # a name that looks like a URL or carried markup is not kept (cleaning would leave "Boss" of "<a>Boss</a>")
    new = subscriber_from({**(preferences or {}), "email": email, "name": display_name(name)}, defaults={
        "send_at": settings.schedule.send_at, "timezone": settings.schedule.timezone,
        "max_items": settings.selection.max_items})
    with store.session_scope(engine) as session:
        sub = store.subscribers.add_pending_subscriber(session, subscriber=new, source=f"{channel} {source}".strip(),
                                           now=now)
        if sub is None:
            return False
        store.subscriptions.subscribe(session, subscriber_ids=[sub.id], now=now, source=channel,
                                      newsletters=list(newsletters) or [settings.newsletter().key])
        window = timedelta(hours=settings.web.confirm_window_hours)
        return store.confirmations.queue_confirmation(session, subscriber_id=sub.id, email=sub.email, now=now,
                                        window=window) is not None


def confirmation_status(engine: Engine, *, subscriber_id: int) -> SubscriberStatus | None:
    """What a confirmation link finds: the subscriber's status, or None when no subscriber has that id."""
    with store.read_session(engine) as session:
        sub = store.subscribers.subscriber_by_id(session, subscriber_id=subscriber_id)
        return None if sub is None else sub.status


def confirm(engine: Engine, *, subscriber_id: int, now: datetime) -> bool:
    """Start a pending subscription (recording the consent time); True when the subscriber is now active
    (also when they already were), False when there is nobody to confirm."""
    with store.session_scope(engine) as session:
        changed = store.subscribers.confirm_subscriber(session, subscriber_id=subscriber_id, now=now)
        sub = store.subscribers.subscriber_by_id(session, subscriber_id=subscriber_id)
        return changed or (sub is not None and sub.status == SubscriberStatus.active)


async def send_confirmations(engine: Engine, settings: Settings, mailer: Mailer, *,
                             clock: Callable[[], datetime]) -> dict[str, int]:
    """Send every queued confirmation: claim it (queued → sending, committed), send, record the outcome.
    Returns the outcomes counted. Safe to run in several places at once: a row is claimed by one of them."""
    now = clock()
    max_age = min(timedelta(days=1), timedelta(days=settings.web.confirm_link_days) / 2)
    with store.session_scope(engine) as session:
        store.confirmations.interrupted_confirmations(session, before=now - INTERRUPTED, now=now)
        due = [(c.id, c.subscriber_id, c.attempts, c.created_at) for c in
               store.confirmations.sendable_confirmations(session, now=now, max_age=max_age)]
    outcomes: dict[str, int] = {}
    for confirmation_id, subscriber_id, attempts, issued_at in due:
        status = await _send_one(engine, settings, mailer, (confirmation_id, subscriber_id, attempts, issued_at),
                                 clock)
        if status is not None:
            outcomes[status] = outcomes.get(status, 0) + 1
    return outcomes


async def _send_one(engine: Engine, settings: Settings, mailer: Mailer, row: tuple[int, int, int, datetime],
                    clock: Callable[[], datetime]) -> str | None:
    confirmation_id, subscriber_id, attempts, issued_at = row
    now = clock()
    with store.session_scope(engine) as session:
        if not store.confirmations.claim_confirmation(session, confirmation_id=confirmation_id, now=now):
            return None
        sub = store.subscribers.subscriber_by_id(session, subscriber_id=subscriber_id)
        record = subscriber_record(sub) if sub is not None else None
        chosen = {x.newsletter for x in store.subscriptions.subscriptions_of(
            session, subscriber_ids=[subscriber_id]).get(subscriber_id, []) if str(x.status) == "active"}
    if record is None or record.status != SubscriberStatus.pending:
        return _record(engine, confirmation_id, ConfirmationStatus.failed, None, "subscriber no longer pending", "",
                       clock)
    message = confirmation_message(settings, record, issued_at=issued_at, now=now,
                                   newsletters=[n for n in settings.newsletters if n.key in chosen])
    result = await mailer.send(message)
    status = _status(result, attempts + 1)
    if status != ConfirmationStatus.sent:
        log.warning("confirmation %s to subscriber %s: %s %s", confirmation_id, subscriber_id, result.code,
                    result.reply or result.error)
    return _record(engine, confirmation_id, status, result.code, f"{result.reply or result.error or ''}",
                   message.message_id, clock)


def _status(result: SendResult, attempts: int) -> ConfirmationStatus:
    if result.code is not None and 200 <= result.code < 300 and result.phase == "done":
        return ConfirmationStatus.sent
    temporary = result.code is None or 400 <= result.code < 500
    return ConfirmationStatus.queued if temporary and attempts < MAX_ATTEMPTS else ConfirmationStatus.failed


def _record(engine: Engine, confirmation_id: int, status: ConfirmationStatus, code: int | None, reply: str,
            message_id: str, clock: Callable[[], datetime]) -> str:
    with store.session_scope(engine) as session:
        store.confirmations.record_confirmation(session, confirmation_id=confirmation_id, status=status, smtp_code=code,
                                  smtp_reply=reply, message_id=message_id, now=clock())
    return str(status)
