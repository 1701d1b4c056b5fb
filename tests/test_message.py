"""MIME structure and headers, parsed back with email.policy.default; header injection attempts."""

from __future__ import annotations

from datetime import datetime, timezone
from email import message_from_bytes, policy

import pytest

from digest.config import SenderSettings
from digest.message import build_message, clean_header, make_message_id

SENDER = SenderSettings(from_name="The Daily Digest", from_address="digest@news.example.com",
                        reply_to="editors@news.example.com", list_id="daily.news.example.com",
                        list_name="The Daily Digest")
DATE = datetime(2026, 11, 27, 7, 0, 5, tzinfo=timezone.utc)


def build(**kw):
    args = dict(sender=SENDER, to_email="zoe@example.com", to_name="Zoë Brandt", subject="Today: a headline",
                text="Hello\n" + "long line " * 200, html="<html><body><p>" + "x" * 5000 + "</p></body></html>",
                unsubscribe_url="https://news.example.com/u/TOKEN", unsubscribe_token="TOKEN",
                message_id=make_message_id("news.example.com", "daily:2026-11-27.7"), date=DATE)
    args.update(kw)
    return build_message(**args)


def parse(data: bytes):
    return message_from_bytes(data, policy=policy.default)


def test_headers_a_bulk_sender_needs():
    msg = parse(build())
    assert msg["From"].addresses[0].addr_spec == "digest@news.example.com"
    assert msg["To"].addresses[0].display_name == "Zoë Brandt"
    assert len(msg["To"].addresses) == 1 and msg["Bcc"] is None and msg["Return-Path"] is None
    assert msg["Reply-To"] == "editors@news.example.com"
    assert msg["Date"].datetime == DATE
    assert msg["Message-ID"].endswith("@news.example.com>") and msg["Message-ID"].startswith("<daily-2026-11-27.7.")
    assert msg["List-Id"] == "The Daily Digest <daily.news.example.com>"
    assert msg["List-Unsubscribe"] == ("<https://news.example.com/u/TOKEN>, "
                                       "<mailto:unsubscribe@news.example.com?subject=TOKEN>")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Precedence"] == "bulk"


def test_multipart_alternative_text_first_html_last():
    msg = parse(build())
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content().startswith("Hello")
    assert "x" * 5000 in parts[1].get_content()


def test_text_only_message_is_single_part():
    msg = parse(build(html=None))
    assert msg.get_content_type() == "text/plain"


def test_wire_format_crlf_and_short_lines():
    data = build()
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998


def test_message_ids_are_unique():
    assert len({make_message_id("news.example.com", "x") for _ in range(1000)}) == 1000


@pytest.mark.parametrize("field", ["to_name", "subject"])
@pytest.mark.parametrize("evil", [
    "Hi\r\nBcc: victim@example.org",
    "Hi\nBcc: victim@example.org",
    "Hi\rBcc: victim@example.org",
    "Hi\r\n\r\n<html>body injection",
    "Hi\x00\x0bBcc: x@example.org",
])
def test_no_header_injection_from_data(field, evil):
    msg = parse(build(**{field: evil}))
    assert msg["Bcc"] is None
    assert len(msg["To"].addresses) == 1
    keys = [k.lower() for k in msg.keys()]
    assert keys.count("subject") == 1 and "bcc" not in keys
    assert msg.get_content_type() == "multipart/alternative"


def test_clean_header_collapses_control_characters():
    assert clean_header("a\r\nb\tc\x00d  e") == "a b c d e"


def test_qp_fill_equals_encoding_the_substituted_text():
    import random

    from digest.message import _qp, qp_fill

    rng = random.Random(5)
    alphabet = ["a", "é", " ", "=", "\n", "\t", ".", "x" * 90, "<p>", "__M1__", "__M2__", "\r\n", "  \n"]
    for _ in range(300):
        template = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))
        values = {"__M1__": rng.choice(["", "Zoë", "https://x.example/u/T?a=1&b=2", "y" * 120]), "__M2__": "v = 1 "}
        expected = template
        for marker, value in values.items():
            expected = expected.replace(marker, value)
        assert qp_fill(template, values) == _qp(expected)
