"""MIME bytes for one subscriber: multipart/alternative (text, then HTML) with the bulk-sender headers,
DKIM-signed over the final bytes when `[dkim]` is configured.

Header values built from data pass through `clean_header`, so no name or title can inject a header.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
import re
import secrets
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr
from functools import lru_cache

from digest.config import SenderSettings, Settings
from digest.errors import ConfigError

CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def clean_header(value: str) -> str:
    """Collapse CR, LF and other control characters into single spaces."""
    return " ".join(CONTROL.sub(" ", value).split())


def make_message_id(domain: str, hint: str = "") -> str:
    local = ".".join(p for p in (re.sub(r"[^A-Za-z0-9.-]", "-", hint), secrets.token_hex(8)) if p)
    return f"<{local}@{domain}>"


def build_message(*, sender: SenderSettings, to_email: str, to_name: str, subject: str, text: str | bytes,
                  html: str | bytes | None, unsubscribe_url: str, unsubscribe_token: str, message_id: str,
                  date: datetime) -> bytes:
    """The message as it goes on the wire (CRLF, quoted-printable parts, lines ≤ 76 characters).

    Assembled directly rather than through `email.message.EmailMessage`, which costs milliseconds per
    message: the headers shared by a variant are built once (cached) and each subscriber adds theirs.
    `text` and `html` may come already quoted-printable encoded (bytes, from `qp_fill`).
    """
    domain = sender.from_address.rpartition("@")[2]
    own = (
        f"To: {address_header(to_name, to_email)}\r\n"
        f"Date: {format_datetime(date)}\r\n"
        f"Message-ID: {clean_header(message_id)}\r\n"
        f"List-Unsubscribe: <{clean_header(unsubscribe_url)}>,\r\n"
        f" <mailto:unsubscribe@{domain}?subject={clean_header(unsubscribe_token)}>\r\n"
    ).encode("ascii")
    head, boundary = _shared_head(sender, clean_header(subject), html is not None)
    text_bytes = text if isinstance(text, bytes) else _qp(text)
    if html is None:
        return own + head + text_bytes
    html_bytes = html if isinstance(html, bytes) else _qp(html)
    return b"".join((own, head, b"--", boundary, b"\r\n", TEXT_PART, text_bytes, b"\r\n--", boundary, b"\r\n",
                     HTML_PART, html_bytes, b"\r\n--", boundary, b"--\r\n"))


TEXT_PART = b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
HTML_PART = b'Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'


def address_header(name: str, address: str) -> str:
    """`Name <addr>`, with the name quoted or RFC 2047-encoded as needed; never more than one address."""
    return formataddr((clean_header(name)[:200], clean_header(address)), charset="utf-8")


@lru_cache(maxsize=256)
def _shared_head(sender: SenderSettings, subject: str, multipart: bool) -> tuple[bytes, bytes]:
    """Headers every subscriber of a variant shares, and the MIME boundary (never valid quoted-printable)."""
    boundary = f"=_digest_{secrets.token_hex(12)}"
    lines = [f"From: {address_header(sender.from_name, sender.from_address)}"]
    if sender.reply_to:
        lines.append(f"Reply-To: {clean_header(sender.reply_to)}")
    lines += [
        "Subject: " + Header(subject, "us-ascii" if subject.isascii() else "utf-8", header_name="Subject")
        .encode(linesep="\r\n", maxlinelen=78),
        f"List-Id: {_encoded_phrase(clean_header(sender.list_name))} <{sender.list_id}>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "Auto-Submitted: auto-generated",
        "Precedence: bulk",
        "MIME-Version: 1.0",
    ]
    if multipart:
        lines.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
        return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii"), boundary.encode("ascii")
    lines += ['Content-Type: text/plain; charset="utf-8"', "Content-Transfer-Encoding: quoted-printable"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii"), boundary.encode("ascii")


def _encoded_phrase(text: str) -> str:
    if text.isascii():
        return text if re.fullmatch(r"[A-Za-z0-9 !#$%&'*+/=?^_`{|}~.-]*", text) else '"' + text.replace('"', "'") + '"'
    return Header(text, "utf-8").encode()


def qp_fill(template: str, values: Mapping[str, str]) -> bytes:
    """`_qp(template with each marker replaced by its value)`, but the lines without a marker are encoded
    once per template (cached) and only the few lines holding a marker are encoded per message."""
    out = []
    for chunk in _qp_plan(template, tuple(values)):
        if isinstance(chunk, bytes):
            out.append(chunk)
        else:
            for marker, value in values.items():
                chunk = chunk.replace(marker, value)
            out.append(_qp(chunk))
    return b"".join(out)


@lru_cache(maxsize=512)
def _qp_plan(template: str, markers: tuple[str, ...]) -> tuple[bytes | str, ...]:
    """The template as encoded runs of plain lines (bytes) and raw lines holding a marker (str).

    Quoted-printable encodes each line on its own, so encoding whole lines separately gives the same bytes.
    """
    lines = template.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    plan: list[bytes | str] = []
    plain: list[str] = []
    for i, line in enumerate(lines):
        piece = line if i == len(lines) - 1 else line + "\n"
        if any(marker in line for marker in markers):
            if plain:
                plan.append(_qp("".join(plain)))
                plain = []
            plan.append(piece)
        else:
            plain.append(piece)
    if plain:
        plan.append(_qp("".join(plain)))
    return tuple(p for p in plan if p)


def _qp(body: str) -> bytes:
    data = body.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    encoded = binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)
    return encoded.replace(b"\n", b"\r\n")


# Signed explicitly (dkimpy's default list omits List-Unsubscribe-Post and Feedback-ID); From and the
# List-Unsubscribe pair twice, so that a copy added later breaks the signature (oversigning, RFC 6376 §8.15).
DKIM_HEADERS = ("From", "From", "To", "Subject", "Date", "Message-ID", "Reply-To", "List-Id",
                "List-Unsubscribe", "List-Unsubscribe", "List-Unsubscribe-Post", "List-Unsubscribe-Post",
                "Feedback-ID", "Auto-Submitted", "Precedence", "MIME-Version", "Content-Type")


def sign(data: bytes, settings: Settings, *, key: bytes | None = None) -> bytes:
    """`data` with a DKIM-Signature prepended when [dkim] is configured, else `data` unchanged."""
    if not settings.dkim.enabled:
        return data
    import dkim  # dkimpy, imported here so that a cold `digest --help` does not pay for it

    try:
        signature = dkim.sign(data, settings.dkim.selector.encode(), settings.dkim.domain.encode(),
                              key or dkim_key(settings), canonicalize=(b"relaxed", b"relaxed"),
                              include_headers=[h.encode() for h in DKIM_HEADERS], linesep=b"\r\n")
    except dkim.DKIMException as exc:
        raise ConfigError(f"[dkim] private_key_path: {settings.dkim_key_path}: cannot sign: {exc}") from None
    return signature + data


def dkim_key(settings: Settings) -> bytes:
    try:
        return settings.dkim_key_path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"[dkim] private_key_path: cannot read {settings.dkim_key_path}: {exc.strerror}") from None
