"""Headers built from names and titles fold (RFC 2047 encoded words ≤ 75 characters on lines ≤ 998) and carry no
bidi or other format characters, end to end: seeded store → run_day → a real aiosmtpd and Postfix's smtp-sink.

The names are read back as RFC 2047 §6.2 says (the space between two encoded words is dropped), with the email
package's `decode_header`. (CPython's newer address parser, `policy.default`, keeps that space inside a display
name, even in what its own folder writes; it is checked too, for the names whose folding needs no such space.)
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.utils import getaddresses

import pytest

from tests.sink import SMTP_SINK, SmtpSink
from digest import store
from tests.conftest import NOW
from tests.factories import article, edition_counts, send_day, subscriber

pytestmark = pytest.mark.store

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f"
NAMES = {
    "emoji@example.org": "😀" * 200,  # one 540-character encoded word before: "500 Line too long"
    "bidi@example.org": "\u202eZoë\u202c Brandt \u2067שלום\u2069 " + "Mähler " * 40,
    "cjk@example.org": "山田\u200f太郎" * 60,
    "plain@example.org": "Jean-Élise Marie-Thérèse de la Fontaine-Dubois",
    "ascii@example.org": "Alexander " * 30,
}
TITLE = "\u202e" + "🔥" * 30 + " Storm\u2066 warning for the coast"
ENCODED_WORD = re.compile(rb"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")


def expected(text: str) -> str:
    """What a reader must see: the text without format characters (Cf: bidi, marks), spaces collapsed."""
    kept = "".join(c for c in text if unicodedata.category(c) != "Cf")
    return " ".join(kept.split())


def seed_hostile(engine) -> None:
    from datetime import timedelta

    with store.session_scope(engine) as session:
        store.articles.upsert_articles(session, articles=[article(1, NOW - timedelta(hours=2), title=TITLE),
                                                 article(2, NOW - timedelta(hours=3))], now=NOW)
        store.subscribers.upsert_subscribers(session, subscribers=[subscriber(email, name=name)
                                                       for email, name in NAMES.items()], now=NOW)


def check_message(data: bytes, rcpt: str) -> None:
    head = data.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    words = ENCODED_WORD.findall(head)
    assert words and max(len(w) for w in words) <= 75, max(len(w) for w in words)
    old = message_from_bytes(data, policy=policy.compat32)
    [(name, address)] = getaddresses(old.get_all("To"))
    assert address == rcpt
    assert str(make_header(decode_header(name))) == expected(NAMES[rcpt])
    msg = message_from_bytes(data, policy=policy.default)
    assert [a.addr_spec for a in msg["To"].addresses] == [rcpt]
    if rcpt in ("plain@example.org", "ascii@example.org"):
        assert msg["To"].addresses[0].display_name == expected(NAMES[rcpt])
    subject = msg["Subject"]
    assert "🔥" * 30 + " Storm warning" in subject and not set(BIDI) & set(subject)


def test_long_and_bidi_names_reach_aiosmtpd_folded(engine, smtp_settings, smtpd):
    seed_hostile(engine)
    send_day(engine, smtp_settings)
    assert edition_counts(engine) == {"sent": len(NAMES)}
    assert sorted(r for m in smtpd.handler.messages for r in m.rcpt_tos) == sorted(NAMES)
    for received in smtpd.handler.messages:
        check_message(received.data, received.rcpt_tos[0])


@pytest.mark.skipif(SMTP_SINK is None, reason="smtp-sink not installed (Debian package postfix)")
def test_long_and_bidi_names_reach_smtp_sink_folded(engine, settings):
    seed_hostile(engine)
    with SmtpSink(dump=True) as sink:
        send_day(engine, replace(settings, smtp=replace(settings.smtp, port=sink.port, connections=2)))
        dumps = [p.read_bytes() for p in sink.dump_dir.rglob("*") if p.is_file()]
    assert edition_counts(engine) == {"sent": len(NAMES)}
    seen = []
    for dump in dumps:  # smtp-sink's own X- lines (LF), then the message as received
        lines = dump.split(b"\n")
        rcpt = next(line[14:].split(b">")[0].decode() for line in lines if line.startswith(b"X-Rcpt-Args: <"))
        start = next(i for i, line in enumerate(lines) if not line.startswith(b"X-"))
        data = b"\n".join(lines[start:])
        if b"\r\n" not in data:
            data = data.replace(b"\n", b"\r\n")
        check_message(data, rcpt)
        seen.append(rcpt)
    assert sorted(seen) == sorted(NAMES)
