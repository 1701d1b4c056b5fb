"""HMAC tokens: round trip, and forged, altered or foreign tokens rejected."""

from __future__ import annotations

import pytest

from digest.tokens import make_token, read_token

KEY, LIST = "k" * 32, "daily.example.com"


def test_round_trip_and_no_email_inside():
    token = make_token(KEY, "unsubscribe", 42, LIST)
    assert read_token(KEY, "unsubscribe", token, LIST) == (42, "")
    assert "@" not in token and "example" not in token


def test_extra_is_bound():
    token = make_token(KEY, "archive", 7, LIST, "digest-2026-11-27")
    assert read_token(KEY, "archive", token, LIST) == (7, "digest-2026-11-27")


@pytest.mark.parametrize("mutate", [
    lambda t: make_token("other-key", "unsubscribe", 42, LIST),  # forged with another key
    lambda t: make_token(KEY, "preferences", 42, LIST),  # another purpose
    lambda t: make_token(KEY, "unsubscribe", 42, "weekly.example.com"),  # another list
    lambda t: make_token(KEY, "unsubscribe", 43, LIST).split(".")[0] + "." + t.split(".")[1],  # id swapped
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # tampered MAC
    lambda t: "garbage",
    lambda t: "",
    lambda t: "....",
    lambda t: "!!!.???",
])
def test_bad_tokens_read_as_none(mutate):
    token = make_token(KEY, "unsubscribe", 42, LIST)
    assert read_token(KEY, "unsubscribe", mutate(token), LIST) is None


def test_non_ascii_tokens_read_as_none():
    assert read_token(KEY, "unsubscribe", "MTo.é", LIST) is None
    assert read_token(KEY, "unsubscribe", "ü.ü", LIST) is None
