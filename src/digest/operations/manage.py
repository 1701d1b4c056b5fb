""""Manage my subscriptions" for a reader who lost every link: `GET/POST /manage` takes an address and, when it
is a subscriber's (any status but removed; erased addresses have no row), emails a magic link to their
preference centre. The web answers before anything here runs (`web.manage`), so the answer and its time
cannot tell whether the address is known; this module looks the address up and sends the email.

The email is plain text, from the first newsletter's From, subject "Manage your subscriptions", built and
signed like the confirmation email (`build_message`, `sign`). It is not queued in a table: the web's
background task sends it at once, and a failure (logged) is repaired by the reader asking again."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.i18n import N_, translations
from digest.message import build_message, make_message_id, sign
from digest.models import SubscriberRecord, SubscriberStatus, subscriber_record
from digest.operations.signup import display_name
from digest.send import Mailer, OutgoingMessage
from digest.urls import preferences_url, unsubscribe_url

log = logging.getLogger("digest.manage")
SUBJECT = N_("Manage your subscriptions")
TEMPLATE = "manage_email.txt"
PACKAGE_TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "web"


def manageable(engine: Engine, *, email: str) -> SubscriberRecord | None:
    """The subscriber of that (normalised) address, unless removed; None for an unknown address."""
    with store.read_session(engine) as session:
        sub = store.subscribers.find_subscriber(session, email=email)
        if sub is None or sub.status == SubscriberStatus.removed:
            return None
        return subscriber_record(sub)


def manage_message(settings: Settings, sub: SubscriberRecord, *, now: datetime) -> OutgoingMessage:
    """The magic-link email: the link to the reader's preference centre, from the first newsletter's From."""
    letter = settings.newsletter()
    sender = letter.sender(settings.sender)
    unsubscribe = unsubscribe_url(settings, sub.id, sub.token_key, newsletter=letter.key)
    name = display_name(sub.name)
    env = Environment(loader=ChoiceLoader([FileSystemLoader(str(settings.web_templates_dir)),
                                           FileSystemLoader(str(PACKAGE_TEMPLATES))]),
                      autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True,
                      extensions=["jinja2.ext.i18n"])
    catalogue = translations(letter.language)
    env.install_gettext_translations(catalogue, newstyle=True)
    text = env.get_template(TEMPLATE).render(
        first_name=(name.split() or [""])[0], preferences_url=preferences_url(settings, sub.id, sub.token_key),
        sender=sender, newsletters=settings.newsletters)
    domain = settings.sender_domain
    message_id = make_message_id(domain, "manage")
    data = build_message(sender=sender, to_email=sub.email, to_name=name, subject=catalogue.gettext(SUBJECT), text=text, html=None,
                         unsubscribe_url=unsubscribe, unsubscribe_token=unsubscribe.rsplit("/", 1)[1],
                         message_id=message_id, date=now)
    return OutgoingMessage(f"bounces@{domain}", sub.email, message_id, sign(data, settings))


async def send_manage_link(engine: Engine, settings: Settings, mailer: Mailer, *, email: str,
                           now: datetime) -> bool:
    """Email the magic link to a known address; True when a message was handed to the relay and accepted."""
    import asyncio

    sub = await asyncio.to_thread(manageable, engine, email=email)
    if sub is None:
        return False
    message = manage_message(settings, sub, now=now)
    result = await mailer.send(message)
    ok = result.code is not None and 200 <= result.code < 300
    if not ok:
        log.warning("manage link to subscriber %s not sent: %s %s", sub.id, result.code, result.reply or result.error)
    return ok
