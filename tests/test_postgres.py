"""PostgreSQL-only checks on the session's real server (see tests/conftest.py): the store, pipeline and
reliability modules run on both backends already; these add the advisory sender lock and a few end-to-end runs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from digest import store
from digest.errors import StoreError
from digest.lock import exclusive
from digest.pipeline import dry_run_day
from tests.conftest import NOW, PG_ABSENT
from tests.factories import edition_counts, seed, send_day
from tests.pg import BIN

pytestmark = pytest.mark.skipif(BIN is None, reason=PG_ABSENT)


@pytest.fixture
def backend():
    return "postgres"  # every store in this module is a fresh database on the session's server


@pytest.fixture
def pg_settings(smtp_settings):
    return smtp_settings


@pytest.fixture
def pg_engine(engine):
    assert engine.dialect.name == "postgresql"
    return engine


send = send_day
counts = edition_counts


def test_edition_once_and_resume_sends_nothing(pg_engine, pg_settings, smtpd):
    seed(pg_engine, NOW, subscribers=6)
    [report] = send(pg_engine, pg_settings)
    assert report.counts == {"sent": 6}
    [again] = send(pg_engine, pg_settings)
    assert again.attempted == 0 and len(smtpd.handler.messages) == 6


def test_faults_are_recorded_and_retried(pg_engine, pg_settings, smtpd):
    seed(pg_engine, NOW, subscribers=4)
    smtpd.handler.rcpt_replies["reader2@example.com"] = "550 5.1.1 no such user"
    smtpd.handler.rcpt_replies["reader3@example.com"] = "451 4.3.0 try later"
    smtpd.handler.disconnect_in_data.add("reader4@example.com")
    send(pg_engine, pg_settings)
    assert counts(pg_engine) == {"sent": 1, "bounced": 1, "deferred": 1, "unknown": 1}
    del smtpd.handler.rcpt_replies["reader3@example.com"]
    send(pg_engine, pg_settings, clock=lambda: NOW + timedelta(hours=2))
    assert counts(pg_engine) == {"sent": 2, "bounced": 1, "unknown": 1}
    assert smtpd.handler.to("reader4@example.com") == []


def test_deadline_expires_on_postgres_too(pg_engine, pg_settings, smtpd):
    seed(pg_engine, NOW, subscribers=2)
    smtpd.handler.rcpt_replies["reader1@example.com"] = "451 4.3.0 try later"
    send(pg_engine, pg_settings, due_at=NOW)
    send(pg_engine, pg_settings, clock=lambda: NOW + timedelta(hours=7), due_at=NOW)  # the daemon, 7 h late
    assert counts(pg_engine) == {"sent": 1, "expired": 1}


def test_dry_run_writes_nothing(pg_engine, pg_settings, smtpd):
    seed(pg_engine, NOW, subscribers=3)
    readonly = store.open_engine(pg_settings.store.url, readonly=True)
    lines = []
    [report] = dry_run_day(readonly, pg_settings, NOW.date(), clock=lambda: NOW, on_line=lines.append)
    readonly.dispose()
    assert report.counts == {"would send": 3} and len(lines) == 3
    with store.read_session(pg_engine) as session:
        assert store.editions.find_edition(session, key="digest:2026-11-27") is None
    assert smtpd.handler.messages == []


def test_sender_lock_is_an_advisory_lock(pg_engine):
    with exclusive(pg_engine, "sender"):
        with pytest.raises(StoreError, match="holds the sender lock"):
            with exclusive(pg_engine, "sender", wait=0.2):
                pass
    with exclusive(pg_engine, "sender"):
        pass


def test_cli_on_postgres(pg_settings, smtpd, tmp_path):
    import json

    from typer.testing import CliRunner

    from digest.cli import app
    from tests.conftest import ROOT

    env = {"DIGEST_STORE_URL": pg_settings.store.url, "DIGEST_SECRET_KEY": "k" * 32, "DIGEST_SMTP_HOST": "127.0.0.1",
           "DIGEST_SMTP_PORT": str(smtpd.port), "DIGEST_SMTP_TLS": "none", "DIGEST_SCHEDULE_TIMEZONE": "UTC"}
    people = tmp_path / "people.csv"
    people.write_text("email,name\n" + "".join(f"p{i}@example.com,P {i}\n" for i in range(20)))
    articles = tmp_path / "a.jsonl"
    articles.write_text("".join(json.dumps({"url": f"https://n.example.com/{i}", "title": f"Story {i} of a day",
                                            "published": (NOW - timedelta(hours=i + 1)).isoformat()}) + "\n"
                                for i in range(5)))
    runner = CliRunner()

    def digest(*args):
        result = runner.invoke(app, ["--config", str(ROOT / "config.toml"), *args], env=env)
        assert result.exit_code == 0, result.output
        return result.output

    digest("ingest", str(articles))
    digest("subscribers", "import", str(people))
    assert "20 would send" in digest("send", "--dry-run", "--date", "2026-11-27")
    digest("send", "--date", "2026-11-27")
    status = json.loads(digest("status", "--date", "2026-11-27", "--json"))
    assert status["counts"] == {"sent": 20} and len(smtpd.handler.messages) == 20
