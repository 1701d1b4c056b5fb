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
from email.charset import Charset
from email.header import Header
from email.utils import format_datetime, formataddr
from functools import lru_cache

from digest.config import SenderSettings, Settings
from digest.errors import ConfigError

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")  # Unicode category Cc: each run becomes one space
# Category Cf (format characters: bidi embeddings, overrides, isolates and marks, zero-width spaces, soft hyphen,
# tags, ...), removed. Zero-width (non-)joiners stay: emoji sequences and Persian or Indic words need them.
# tests/test_message.py checks this list against `unicodedata` of the running Python.
FORMAT = re.compile("[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b\u200e\u200f"
                    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
                    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
                    "\U000e0020-\U000e007f]+")
LINE = 78  # RFC 5322: lines SHOULD be at most 78 characters (and MUST be at most 998)
WORD = 76  # fold RFC 2047 encoded words onto lines of at most this much: each word is then at most 75
UTF8 = Charset("utf-8")
PLAIN_WORD = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,64}")  # an atom that needs no quoting or encoding


def clean_header(value: str) -> str:
    """Control characters (CR, LF, ...) as single spaces, format characters (bidi controls, zero-width spaces)
    removed, whitespace collapsed: no name or title can inject a header or reorder what a reader sees."""
    text = CONTROL.sub(" ", value)
    if not text.isascii():
        text = FORMAT.sub("", text)
    return " ".join(text.split())


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
    head, boundary = _shared_head(sender, subject, html is not None)
    text_bytes = text if isinstance(text, bytes) else _qp(text)
    if html is None:
        return own + head + text_bytes
    html_bytes = html if isinstance(html, bytes) else _qp(html)
    return b"".join((own, head, b"--", boundary, b"\r\n", TEXT_PART, text_bytes, b"\r\n--", boundary, b"\r\n",
                     HTML_PART, html_bytes, b"\r\n--", boundary, b"--\r\n"))


TEXT_PART = b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
HTML_PART = b'Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'


def address_header(name: str, address: str, field: str = "To") -> str:
    """`Name <addr>` for the header `field`, never more than one address. A short plain name goes as it is (or
    quoted); a longer or non-ASCII one as plain words and RFC 2047 encoded words (each at most 75 characters),
    folded onto lines of at most 78."""
    name, address = clean_header(name), _ascii_address(clean_header(address))
    if not name:
        return address
    if name.isascii() and "=?" not in name:
        simple = formataddr((name, address))
        if len(field) + 2 + len(simple) <= LINE:
            return simple  # the common case: no folding, no encoding
    else:
        word = UTF8.header_encode(name)
        if len(word) <= WORD - 1:
            return _fold(field, [word, f"<{address}>"])  # a short name: one encoded word
    return _fold(field, [*_phrase_words(name), f"<{address}>"])


def subject_header(subject: str) -> str:
    """The Subject's value: plain text folded at spaces, or encoded words when it is not plain ASCII, holds a
    word too long to fold, or something a reader would decode (`=?`)."""
    subject = clean_header(subject)
    if subject.isascii() and "=?" not in subject and all(len(w) <= LINE - 12 for w in subject.split()):
        return Header(subject, "us-ascii", header_name="Subject").encode(linesep="\r\n", maxlinelen=LINE)
    return Header(subject, "utf-8", header_name="Subject").encode(linesep="\r\n", maxlinelen=WORD)


def _ascii_address(address: str) -> str:
    """An internationalised domain as its ASCII (IDNA) form; the header is ASCII whatever the store holds."""
    if address.isascii():
        return address
    local, at, domain = address.rpartition("@")
    try:
        return f"{local}{at}{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        return address


def _phrase_words(name: str) -> list[str]:
    """A display name as header words: plain words as they are, each run of other words as encoded words with
    the spaces inside the run encoded too (a reader drops the space between two encoded words, RFC 2047 §6.2,
    and keeps the one between an encoded word and a plain one)."""
    words: list[str] = []
    run: list[str] = []
    for word in name.split(" "):
        if PLAIN_WORD.fullmatch(word) and "=?" not in word:
            words += _encoded_words(" ".join(run)) if run else []
            words.append(word)
            run = []
        else:
            run.append(word)
    return words + (_encoded_words(" ".join(run)) if run else [])


def _encoded_words(text: str) -> list[str]:
    return Header(text, "utf-8").encode(linesep="\r\n", maxlinelen=WORD - 1).split()  # the first has no indent


def _fold(field: str, words: list[str]) -> str:
    """`words` joined by single spaces, a line broken before a word that would pass LINE; the field's value."""
    lines, line = [], f"{field}:"
    for word in words:
        if len(line) + 1 + len(word) > LINE and line != f"{field}:":
            lines.append(line)
            line = ""
        line += " " + word
    lines.append(line)
    return "\r\n".join(lines)[len(field) + 2:]


@lru_cache(maxsize=256)
def _shared_head(sender: SenderSettings, subject: str, multipart: bool) -> tuple[bytes, bytes]:
    """Headers every subscriber of a variant shares, and the MIME boundary (never valid quoted-printable)."""
    boundary = f"=_digest_{secrets.token_hex(12)}"
    lines = [f"From: {address_header(sender.from_name, sender.from_address, 'From')}"]
    if sender.reply_to:
        lines.append(f"Reply-To: {clean_header(sender.reply_to)}")
    lines += [
        f"Subject: {subject_header(subject)}",
        f"List-Id: {address_header(sender.list_name, sender.list_id, 'List-Id')}",
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
