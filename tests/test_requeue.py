"""The operator's way back: `digest deliveries requeue` after a relay refused a whole run (the breaker off), and the
skip reasons in `digest status`. Through the command line, against smtp-sink and aiosmtpd, on both backends."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from tests.sink import SMTP_SINK, SmtpSink
from digest import store
from digest.models import Subscriber
from tests.conftest import NOW
from tests.factories import seed, subscriber
from tests.test_cli import DAY, Digest, one_error

pytestmark = [pytest.mark.store,
              pytest.mark.skipif(SMTP_SINK is None, reason="smtp-sink not installed (Debian package postfix)")]

STORM = ["-f", "RCPT", "-B", "550 5.1.1 <x>: Recipient address rejected: User unknown"]
READERS = 20


@pytest.fixture
def cli(tmp_path, monkeypatch, store_url):
    monkeypatch.chdir(tmp_path)
    engine = store.open_engine(store_url)
    seed(engine, NOW, subscribers=READERS)
    engine.dispose()
    return Digest(tmp_path, store_url)


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


def statuses(cli, sql: str) -> dict[str, int]:
    return {str(s): n for s, n in cli.query(sql)}


def deliveries(cli) -> dict[str, int]:
    return statuses(cli, "SELECT status, count(*) FROM delivery GROUP BY status")


def readers(cli) -> dict[str, int]:
    return statuses(cli, "SELECT status, count(*) FROM subscriber GROUP BY status")


def burn_the_list(cli) -> tuple[datetime, datetime]:
    """A relay refusing every RCPT with 5.1.1 and no breaker (as before it existed): everyone bounced, suppressed."""
    before = datetime.now(timezone.utc)
    with SmtpSink(STORM) as sink:
        result = cli("send", "--date", DAY, env={"DIGEST_SMTP_PORT": str(sink.port),
                                                 "DIGEST_SEND_BREAKER_WINDOW": "0"})
    assert result.exit_code == 3, result.output
    assert deliveries(cli) == {"bounced": READERS} and readers(cli) == {"bounced": READERS}
    return before, datetime.now(timezone.utc) + timedelta(seconds=1)


def test_requeue_brings_a_burnt_edition_back_and_reactivates_only_the_readers_its_bounces_suppressed(cli):
    since, until = burn_the_list(cli)
    later = datetime.now(timezone.utc) + timedelta(minutes=5)
    engine = store.open_engine(cli.url)
    with store.session_scope(engine) as session:  # after the storm: one reader unsubscribed, one suppressed again
        session.exec(update(Subscriber).where(Subscriber.email == "reader1@example.com")
                     .values(status="unsubscribed", updated_at=later))
        session.exec(update(Subscriber).where(Subscriber.email == "reader2@example.com").values(updated_at=later))
    engine.dispose()

    before = cli.state()
    dry = cli("deliveries", "requeue", "--date", DAY, "--status", "bounced", "--since", iso(since),
              "--until", iso(until), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"digest:{DAY}: would requeue {READERS} deliveries ({READERS} bounced)" in dry.stdout
    assert f"would reactivate {READERS - 2} readers" in dry.stdout
    assert cli.state() == before  # a dry run writes nothing

    outside = cli("deliveries", "requeue", "--date", DAY, "--status", "bounced", "--until", iso(since))
    assert outside.exit_code == 0 and "nothing to requeue" in outside.stdout
    assert cli.state() == before

    done = cli("deliveries", "requeue", "--date", DAY, "--edition", f"digest:{DAY}", "--status", "failed,bounced",
               "--since", iso(since), "--until", iso(until))
    assert done.exit_code == 0, done.output
    assert f"requeued {READERS} deliveries ({READERS} bounced); reactivated {READERS - 2} readers" in done.stdout
    assert "the operator requeued 20 deliveries" in done.stderr  # logged as the operator's decision
    assert "reader3@example.com reactivated by the operator" in done.stderr
    assert deliveries(cli) == {"queued": READERS}
    assert readers(cli) == {"active": READERS - 2, "unsubscribed": 1, "bounced": 1}
    [(error,)] = cli.query("SELECT DISTINCT error FROM delivery")
    assert error.startswith("requeued by the operator at ") and "(was bounced: bad mailbox: 550 5.1.1" in error

    with SmtpSink(dump=True) as sink:  # the relay is fixed: the edition goes out, once each, to who may get it
        result = cli("send", "--date", DAY, env={"DIGEST_SMTP_PORT": str(sink.port)})
        received = sink.received()
    assert result.exit_code == 0, result.output
    assert deliveries(cli) == {"sent": READERS - 2, "skipped": 2}
    assert set(received.values()) == {1} and len(received) == READERS - 2
    assert "reader1@example.com" not in received and "reader2@example.com" not in received


def test_requeue_of_unknown_rows_is_the_operators_explicit_choice(cli):
    with SmtpSink(["-q", "."]) as sink:  # hangs up after the data: maybe delivered
        result = cli("send", "--date", DAY, env={"DIGEST_SMTP_PORT": str(sink.port),
                                                 "DIGEST_SEND_BREAKER_WINDOW": "0"})
    assert result.exit_code == 3 and deliveries(cli) == {"unknown": READERS}
    assert "nothing to requeue" in cli("deliveries", "requeue", "--date", DAY, "--status", "bounced,failed").stdout
    assert deliveries(cli) == {"unknown": READERS}
    done = cli("deliveries", "requeue", "--date", DAY, "--status", "unknown")
    assert done.exit_code == 0 and f"requeued {READERS} deliveries ({READERS} unknown)" in done.stdout
    assert deliveries(cli) == {"queued": READERS} and readers(cli) == {"active": READERS}


@pytest.mark.parametrize("args, needle, code", [  # a bad option is a usage error (2), a missing edition is 1
    (["--status", "sent"], "'sent' cannot be requeued", 2),
    (["--status", ","], "--status", 2),
    (["--status", "bounced", "--since", "yesterday"], "--since: expected an ISO 8601 time", 2),
    (["--status", "bounced", "--since", "2026-11-27T08:00Z", "--until", "2026-11-27T07:00Z"], "is not before", 2),
    (["--status", "bounced", "--date", "27/11/2026"], "--date", 2),
    (["--status", "bounced", "--edition", "digest:weekly:1999-01-01"], "no edition digest:weekly:1999-01-01", 1),
    (["--status", "bounced", "--date", "2020-01-01"], "no edition on 2020-01-01", 1),
])
def test_bad_requeue_input_is_one_line_and_writes_nothing(cli, args, needle, code):
    burn_the_list(cli)
    before = cli.state()
    one_error(cli("deliveries", "requeue", *(["--date", DAY] if "--date" not in args else []), *args), needle,
              code=code)
    assert cli.state() == before


def test_status_lists_the_skip_reasons_with_their_counts(cli, smtpd_port):
    engine = store.open_engine(cli.url)
    with store.session_scope(engine) as session:
        store.subscribers.upsert_subscribers(session, subscribers=[subscriber(f"picky{i}@example.com", topics=["no-such-topic"])
                                                       for i in range(1, 8)], now=NOW)
    engine.dispose()
    result = cli("send", "--date", DAY, env={"DIGEST_SMTP_PORT": str(smtpd_port)})
    assert result.exit_code == 0, result.output
    doc = cli.json("status", "--date", DAY)
    assert doc["counts"] == {"sent": READERS, "skipped": 7}
    [edition] = doc["editions"]
    skipped = [r for r in edition["reasons"] if r["status"] == "skipped"]
    assert skipped == [{"status": "skipped", "smtp_code": None, "count": 7,
                        "error": "nothing in this edition matches the subscriber's topics and countries"}]
    table = cli("status", "--date", DAY)
    text = " ".join(table.stdout.split())  # Rich wraps long lines at the terminal's width
    assert "7 × skipped: nothing in this edition matches the subscriber's topics and countries" in text


@pytest.fixture
def smtpd_port():
    from tests.smtpd import ThreadedSMTPServer

    with ThreadedSMTPServer() as server:
        yield server.port
