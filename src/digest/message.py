"""MIME bytes for one subscriber: multipart/alternative (text, then HTML) with the bulk-sender headers.

Header values built from data pass through `clean_header`, so no name or title can inject a header.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from digest.config import SenderSettings

CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def clean_header(value: str) -> str:
    """Collapse CR, LF and other control characters into single spaces."""
    return " ".join(CONTROL.sub(" ", value).split())


def make_message_id(domain: str, hint: str = "") -> str:
    local = ".".join(p for p in (re.sub(r"[^A-Za-z0-9.-]", "-", hint), secrets.token_hex(8)) if p)
    return f"<{local}@{domain}>"


def build_message(*, sender: SenderSettings, to_email: str, to_name: str, subject: str, text: str,
                  html: str | None, unsubscribe_url: str, unsubscribe_token: str, message_id: str,
                  date: datetime) -> bytes:
    msg = EmailMessage(policy=policy.SMTP)
    domain = sender.from_address.rpartition("@")[2]
    msg["From"] = Address(display_name=clean_header(sender.from_name), addr_spec=sender.from_address)
    msg["To"] = Address(display_name=clean_header(to_name), addr_spec=clean_header(to_email))
    if sender.reply_to:
        msg["Reply-To"] = sender.reply_to
    msg["Subject"] = clean_header(subject)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    msg["List-Id"] = f"{clean_header(sender.list_name)} <{sender.list_id}>"
    msg["List-Unsubscribe"] = f"<{unsubscribe_url}>, <mailto:unsubscribe@{domain}?subject={unsubscribe_token}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    msg["Precedence"] = "bulk"
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if html is not None:
        msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg.as_bytes()
