"""digest.operations: the one reader of `[workers] engine`, and use cases that return result dataclasses."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from digest.errors import ConfigError, UsageError
from digest.operations.backends import Embedded, SendOptions, Workers, backend_for
from digest.operations.sending import send_day
from digest.operations.status import DayStatus, day_status
from tests.conftest import NOW
from tests.factories import seed, send_day as send_now

SRC = Path(__file__).resolve().parents[1] / "src" / "digest"


def test_only_the_backends_and_the_config_rules_read_the_workers_engine():
    readers = sorted(str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
                     if re.search(r"workers\.engine\b", p.read_text(encoding="utf-8")))
    assert readers == ["config/rules.py", "operations/backends.py"]


def test_backend_for_follows_the_setting(settings):
    assert isinstance(backend_for(settings), Embedded)
    workers = replace(settings, workers=replace(settings.workers, engine="procrastinate"))
    assert isinstance(backend_for(workers), Workers)


def test_each_backend_refuses_what_it_cannot_do(settings):
    with pytest.raises(ConfigError, match=r"\[workers\] engine: workers need \"procrastinate\""):
        backend_for(settings).check_worker()
    workers = replace(settings, workers=replace(settings.workers, engine="procrastinate"))
    with pytest.raises(ConfigError, match="--limit and --retry-deferred send in this process"):
        backend_for(workers).check_send(SendOptions(limit=3))
    backend_for(settings).check_send(SendOptions(limit=3, retry_deferred=True))  # embedded: every option works


def test_send_day_checks_the_subscribers_before_the_key(engine, settings):  # engine: the store exists
    keyless = replace(settings, secret_key="")
    with pytest.raises(UsageError, match="--subscriber: no subscriber 'nobody@example.org'"):
        send_day(keyless, NOW.date(), subscribers=["nobody@example.org"])
    with pytest.raises(ConfigError, match="DIGEST_SECRET_KEY is not set"):
        send_day(keyless, NOW.date())


@pytest.mark.store
def test_day_status_is_a_dataclass_whose_document_is_the_json_of_digest_status(engine, smtp_settings, smtpd):
    seed(engine, NOW, subscribers=3)
    send_now(engine, smtp_settings, clock=lambda: NOW)
    status = day_status(smtp_settings, NOW.date(), engine=engine)
    assert isinstance(status, DayStatus) and status.queue is None
    doc = status.doc()
    assert list(doc) == ["date", "edition", "counts", "total", "editions"]
    assert list(doc["editions"][0]) == ["edition", "status", "deadline", "oldest_pending", "reasons", "counts",
                                        "problems", "total", "newsletter", "held"]
    assert doc["total"] == sum(e["total"] for e in doc["editions"]) == 3
