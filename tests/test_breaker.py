"""The circuit breaker's rule (pure) and its configuration keys."""

from __future__ import annotations

import pytest

from digest.config import load_settings
from digest.errors import ConfigError
from digest.models import DeliveryStatus as S
from digest.pipeline.breaker import Breaker, fault_key
from digest.send import SendResult, Verdict

BOUNCE = "bounced 550 at rcpt"


def feed(breaker: Breaker, keys) -> list[bool]:
    return [breaker.observe(i, k, "550 5.1.1 no") for i, k in enumerate(keys, 1)]


def test_it_trips_once_the_minimum_is_seen_and_one_failure_dominates():
    b = Breaker(window=20, min_outcomes=10, threshold=0.9)
    assert feed(b, [BOUNCE] * 9) == [False] * 9 and b.tripped is None  # not enough seen yet
    assert b.observe(10, BOUNCE, "550 5.1.1 no") and b.tripped == BOUNCE
    assert b.storm() == list(range(1, 11)) and b.share() == (10, 10) and b.sample == "550 5.1.1 no"


def test_successes_and_mixed_failures_keep_it_closed():
    b = Breaker(window=20, min_outcomes=10, threshold=0.9)
    assert not any(feed(b, ([BOUNCE] * 4 + [None]) * 20))  # 4 of 5 bounce: below 90 %
    b = Breaker(window=20, min_outcomes=10, threshold=0.9)
    mixed = ["bounced 550 at rcpt", "failed 500 at rcpt", "deferred 450 at rcpt", "unknown disconnected at data"]
    assert not any(feed(b, mixed * 10))  # all failing, but not the same way: not one relay fault
    assert not any(feed(Breaker(window=0), [BOUNCE] * 500))  # 0 = no breaker


def test_the_window_slides_over_old_successes():
    b = Breaker(window=10, min_outcomes=5, threshold=0.9)
    assert not any(feed(b, [None] * 50 + [BOUNCE] * 8))
    assert b.observe(99, BOUNCE) and b.share() == (9, 10)


@pytest.mark.parametrize("result, status, key", [
    (SendResult(250, "ok", "done"), S.sent, None),
    (SendResult(550, "5.1.1 no", "rcpt"), S.bounced, "bounced 5xx at rcpt"),
    (SendResult(553, "5.1.3 bad", "rcpt"), S.bounced, "bounced 5xx at rcpt"),  # one relay fault, whatever the code
    (SendResult(None, "lost", "data", "disconnected"), S.unknown, "unknown disconnected at data"),
    (SendResult(421, "4.7.0 busy", "mail"), S.deferred, "deferred 4xx at mail"),
])
def test_fault_key_names_status_code_and_phase(result, status, key):
    assert fault_key(result, Verdict(status, "")) == key


@pytest.mark.parametrize("var, value, key", [
    ("DIGEST_SEND_BREAKER_WINDOW", "-1", "breaker_window"),
    ("DIGEST_SEND_BREAKER_MIN_OUTCOMES", "500", "breaker_min_outcomes"),
    ("DIGEST_SEND_BREAKER_MIN_OUTCOMES", "0", "breaker_min_outcomes"),
    ("DIGEST_SEND_BREAKER_THRESHOLD", "0.5", "breaker_threshold"),
    ("DIGEST_SEND_BREAKER_THRESHOLD", "nan", "breaker_threshold"),
    ("DIGEST_SMTP_CONNECT_FAILURES", "0", "connect_failures"),
    ("DIGEST_SMTP_CONNECT_BACKOFF_SECONDS", "inf", "connect_backoff_seconds"),
    ("DIGEST_SMTP_CONNECT_BACKOFF_SECONDS", "nan", "connect_backoff_seconds"),
])
def test_bad_breaker_settings_are_one_line_naming_the_key(var, value, key, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./config.toml
    with pytest.raises(ConfigError) as bad:
        load_settings(None, environ={var: value})
    assert key in str(bad.value) and "\n" not in str(bad.value)


def test_the_defaults_and_a_disabled_breaker_are_valid(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings(None, environ={})
    assert (s.send.breaker_window, s.send.breaker_min_outcomes, s.send.breaker_threshold) == (100, 30, 0.9)
    assert (s.smtp.connect_failures, s.smtp.connect_backoff_seconds) == (3, 1.0)
    assert load_settings(None, environ={"DIGEST_SEND_BREAKER_WINDOW": "0"}).send.breaker_window == 0
