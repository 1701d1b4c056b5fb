"""The double opt-in email: built, signed and sent like every other message (`build_message`, `sign`, a Mailer)."""

from __future__ import annotations

from datetime import datetime

from digest.config import Settings
from digest.message import build_message, make_message_id, sign
from digest.models import SubscriberRecord
from digest.render import make_environment
from digest.send import Mailer, OutgoingMessage, SendResult
from digest.tokens import make_token


async def send_confirmation(settings: Settings, mailer: Mailer, sub: SubscriberRecord, *, now: datetime
                            ) -> SendResult:
    return await mailer.send(confirmation_message(settings, sub, now=now))


def confirmation_message(settings: Settings, sub: SubscriberRecord, *, now: datetime) -> OutgoingMessage:
    base, key, list_id = settings.sender.base_url.rstrip("/"), settings.secret_key, settings.sender.list_id
    unsubscribe_token = make_token(key, "unsubscribe", sub.id, list_id, ident=sub.token_key)
    context = {"lang": "en", "sender": settings.sender, "first_name": (sub.name.split() or [""])[0],
               "confirm_url": f"{base}/confirm/{make_token(key, 'confirm', sub.id, list_id, ident=sub.token_key)}",
               "subject": f"Confirm your subscription to {settings.sender.list_name}"}
    env = make_environment(settings.templates_dir)
    domain = settings.sender_domain
    message_id = make_message_id(domain, "confirm")
    data = build_message(sender=settings.sender, to_email=sub.email, to_name=sub.name, subject=context["subject"],
                         text=env.get_template("confirm.txt").render(context),
                         html=env.get_template("confirm.html").render(context),
                         unsubscribe_url=f"{base}/u/{unsubscribe_token}", unsubscribe_token=unsubscribe_token,
                         message_id=message_id, date=now)
    return OutgoingMessage(f"bounces@{domain}", sub.email, message_id, sign(data, settings))
