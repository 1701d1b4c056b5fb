"""Reader identity (issue 13, items 1-3): one person is one subscriber whatever the case of their address; an id,
a link or a VERP token never passes to somebody else; removing or erasing a reader keeps what "never twice" and
"never re-mailed without consent" need. Through the CLI, a real aiosmtpd relay, the web app and the bounce path,
on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from email import message_from_bytes, policy
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from digest import store
from digest.ingest.subscribers import normalize_email
from digest.models import Subscriber, SubscriberStatus, Suppression, address_hash
from digest.operations.bounces import import_bounces
from digest.send import RecordingMailer
from digest.tokens import make_token
from digest.web import create_app
from tests.conftest import NOW
from tests.factories import seed
from tests.test_bounces import dsn
from tests.test_cli import DAY, Digest, one_error

pytestmark = pytest.mark.store


@pytest.fixture
def cli(tmp_path, monkeypatch, smtpd, store_url):
    """The CLI on this test's store, sending to a real aiosmtpd relay; twelve fresh articles for DAY."""
    monkeypatch.chdir(tmp_path)
    engine = store.open_engine(store_url)
    seed(engine, NOW, subscribers=0)
    engine.dispose()
    return Digest(tmp_path, store_url, port=smtpd.port)


def subscribers(cli) -> list[dict]:
    return cli.json("subscribers", "list")


def received(smtpd, rcpt: str) -> int:
    return len([m for m in smtpd.handler.messages if rcpt in {r.lower() for r in m.rcpt_tos}])


# ── 1. one person, one subscriber ───────────────────────────────────────────────────────────────────

def test_normalize_email_is_one_form_per_address():
    assert normalize_email("  ALICE.Smith@Example.ORG ") == "alice.smith@example.org"
    assert normalize_email("reader@Bücher.example") == "reader@xn--bcher-kva.example"  # IDN domain in ASCII
    for bad in ("ü@example.org", "a..b@example.org", "no-at-sign", "a@b", "x@" + "a" * 250 + ".org"):
        with pytest.raises(ValueError, match="email"):
            normalize_email(bad)


@pytest.mark.parametrize("address", [
    "  Bob.O'Neil+news@Example.ORG ", "reader@Bücher.example", "a..b@example.org", ".a@example.org", "a.@example.org",
    "u@-bad.com", "u@exa_mple.com", "a@b", '"quoted"@example.org', "x@" + "a" * 250 + ".org", "a" * 65 + "@x.org",
    "u@localhost", "a@example.org.", "ü@example.org"])
def test_the_domain_cache_gives_what_email_validator_gives(address):
    """normalize_email's fast path (plain local part, domain validated once) agrees with the whole validator."""
    from email_validator import EmailNotValidError, validate_email

    try:
        expected = validate_email(address.strip(), check_deliverability=False, allow_smtputf8=False
                                  ).ascii_email.lower()
    except EmailNotValidError:
        expected = None
    try:
        got = normalize_email(address)
    except ValueError:
        got = None
    assert got == expected


def test_case_variants_are_one_subscriber_and_get_one_message(cli, smtpd):
    assert cli("subscribers", "import", cli.write("a.csv", "email,name\nalice@example.org,Alice\n")).exit_code == 0
    second = cli("subscribers", "import", cli.write("b.csv", "email,name\nALICE@Example.org,Alice S\n"))
    assert second.exit_code == 0 and "0 new, 1 updated" in second.stdout, second.output
    assert cli("subscribers", "add", "Alice@EXAMPLE.org").exit_code == 0
    assert [(s["email"], s["name"], s["status"]) for s in subscribers(cli)] == [
        ("alice@example.org", "", "active")]  # `add` updated the name too

    preview = cli("preview", "--date", DAY, "--format", "text", "--subscriber", "ALICE@example.ORG")
    assert preview.exit_code == 0, preview.output
    result = cli("send", "--date", DAY, "--subscriber", "aLiCe@Example.Org")
    assert result.exit_code == 0, result.output
    assert received(smtpd, "alice@example.org") == 1
    assert cli("send", "--date", DAY).exit_code == 0
    assert len(smtpd.handler.messages) == 1  # the whole edition: still one message for one person


def test_case_variants_in_one_file_are_one_line_too_many(cli):
    path = cli.write("dup.csv", "email\nbob@example.org\nBOB@example.org\n")
    one_error(cli("subscribers", "import", path), f"{path}:3", "bob@example.org already on line 2")
    assert subscribers(cli) == []


def test_web_signup_with_a_case_variant_of_an_active_address_adds_nobody(engine, settings):
    with store.session_scope(engine) as session:
        store.subscribers.upsert_subscribers(session, subscribers=[Subscriber(email="carol@example.org")], now=NOW)
    mailer = RecordingMailer()
    with TestClient(create_app(settings, engine, mailer=mailer, clock=lambda: NOW),
                    base_url="https://news.example.com/digest") as client:
        for variant in ("Carol@Example.org", "CAROL@EXAMPLE.ORG"):
            page = client.get("/subscribe")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
            data = {"email": variant, "name": "Carol", "csrf": csrf.group(1)}
            assert client.post("/subscribe", data=data).status_code == 200
    with store.read_session(engine) as session:
        rows = [(s.email, str(s.status)) for s in store.subscribers.list_subscribers(session)]
        queued = store.confirmations.confirmation_counts(session)
    assert rows == [("carol@example.org", "active")] and mailer.messages == []
    assert sum(queued.values()) == 0, queued  # no confirmation queued for an active reader


# ── 2. identity is never reused ─────────────────────────────────────────────────────────────────────

def test_an_old_link_and_a_late_bounce_after_remove_and_a_new_signup_act_on_nobody(engine, settings):
    seed(engine, NOW, subscribers=1)  # reader1, the newest (highest) id
    mailer = RecordingMailer()
    from digest.pipeline import run_day

    asyncio.run(run_day(engine, settings, mailer, NOW.date(), clock=lambda: NOW))
    [old] = mailer.messages
    email = message_from_bytes(old.data, policy=policy.default)
    https = re.search(r"<(https://[^>]+)>", str(email["List-Unsubscribe"]))[1]
    unsubscribe = "/" + urlsplit(https).path.split("/", 2)[2]  # base_url is https://news.example.com/digest
    with store.session_scope(engine) as session:
        removed_id = store.subscribers.find_subscriber(session, email="reader1@example.com").id
        assert store.subscribers.delete_subscriber(session, email="reader1@example.com", now=NOW) == "active"
    with TestClient(create_app(settings, engine, mailer=RecordingMailer(), clock=lambda: NOW),
                    base_url="https://news.example.com/digest") as client:
        with store.session_scope(engine) as session:  # a newcomer after the removal
            store.subscribers.upsert_subscribers(session, subscribers=[Subscriber(email="newcomer@example.org")], now=NOW)
            newcomer = store.subscribers.find_subscriber(session, email="newcomer@example.org")
        assert newcomer.id != removed_id  # AUTOINCREMENT: the removed id is never handed out again
        assert client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"}).status_code == 404
        preferences = re.search(r"/p/[A-Za-z0-9_.-]+", old.data.decode())[0]
        assert client.get(preferences).status_code == 404
    # the relay's late report about the removed reader's message, to its VERP address
    late = dsn(sender=old.envelope_from, recipient="reader1@example.com", message_id="<not-ours@example.org>")
    summary = import_bounces(engine, settings, [late], now=NOW)
    assert (summary.recorded, summary.suppressed) == (0, [])
    with store.read_session(engine) as session:
        assert [(s.email, str(s.status)) for s in store.subscribers.list_subscribers(session)] == [
            ("reader1@example.com", "removed"), ("newcomer@example.org", "active")]


def test_tokens_of_a_reused_id_verify_for_nobody_but_their_owner(engine, settings):
    """A store that already reused an id (SQLite before 0003): the first holder's links 404 for the second."""
    with store.session_scope(engine) as session:
        store.subscribers.upsert_subscribers(session, subscribers=[Subscriber(email="first@example.org")], now=NOW)
        first = store.subscribers.find_subscriber(session, email="first@example.org")
    links = {p: make_token(settings.secret_key, p, first.id, settings.sender.list_id, ident=first.token_key)
             for p in ("unsubscribe", "preferences")}
    with store.session_scope(engine) as session:  # the old `remove`: the row gone, the id given to a newcomer
        session.exec(text("DELETE FROM subscription WHERE subscriber_id = :i").bindparams(i=first.id))
        session.exec(text("DELETE FROM subscriber WHERE id = :i").bindparams(i=first.id))
        session.add(Subscriber(id=first.id, email="second@example.org", created_at=NOW, updated_at=NOW))
    with TestClient(create_app(settings, engine, mailer=RecordingMailer(), clock=lambda: NOW),
                    base_url="https://news.example.com/digest") as client:
        assert client.post(f"/u/{links['unsubscribe']}").status_code == 404
        assert client.get(f"/p/{links['preferences']}").status_code == 404
        with store.read_session(engine) as session:
            second = store.subscribers.find_subscriber(session, email="second@example.org")
        own = make_token(settings.secret_key, "unsubscribe", second.id, settings.sender.list_id, ident=second.token_key)
        assert client.post(f"/u/{own}").status_code == 200  # the newcomer's own link works
    with store.read_session(engine) as session:
        second = store.subscribers.find_subscriber(session, email="second@example.org")
        row = store.subscriptions.find_subscription(session, subscriber_id=second.id, newsletter="digest")
        assert str(row.status) == "unsubscribed"  # one-click leaves the newsletter (the person's status stays)


def test_a_bounce_naming_another_recipient_suppresses_nobody(engine, settings):
    from tests.test_bounces import bounce_of, sent, state

    _, delivery_id = sent(engine, "dana@remote.example", 27)
    forged = bounce_of(settings, delivery_id)  # a genuine VERP token ...
    forged = forged.replace(b"rfc822; dana@remote.example", b"rfc822; someone.else@remote.example")  # ... not Dana
    summary = import_bounces(engine, settings, [forged], now=NOW)
    assert state(engine, delivery_id) == ("sent", "active")
    assert (summary.recorded, summary.mismatched, summary.suppressed) == (0, 1, [])
    upper = bounce_of(settings, delivery_id).replace(b"rfc822; dana@remote.example", b"rfc822; DANA@Remote.Example")
    assert import_bounces(engine, settings, [upper], now=NOW).suppressed == ["dana@remote.example"]  # same person


# ── 3. removing is not forgetting ───────────────────────────────────────────────────────────────────

def test_remove_then_reimport_then_send_again_sends_nothing_new(cli, smtpd):
    path = cli.write("readers.csv", "email,name\nerin@example.org,Erin\nfrank@example.org,Frank\n")
    assert cli("subscribers", "import", path).exit_code == 0
    assert cli("send", "--date", DAY).exit_code == 0
    assert (received(smtpd, "erin@example.org"), received(smtpd, "frank@example.org")) == (1, 1)

    assert cli("subscribers", "remove", "ERIN@example.org").exit_code == 0
    again = cli("subscribers", "import", path)
    assert again.exit_code == 0 and "1 updated, 1 left suppressed" in again.stdout, again.output
    assert cli("send", "--date", DAY).exit_code == 0
    assert len(smtpd.handler.messages) == 2  # nothing new: Erin stays removed

    back = cli("subscribers", "import", path, "--resubscribe", "--consent-source", "asked by phone 2026-11-27")
    assert back.exit_code == 0 and "1 resubscribed" in back.stdout, back.output
    assert cli("send", "--date", DAY).exit_code == 0
    assert len(smtpd.handler.messages) == 2  # with consent again, still never the same edition twice
    [erin] = [s for s in subscribers(cli) if s["email"] == "erin@example.org"]
    assert erin["status"] == "active"
    assert cli.query("SELECT consent_source FROM subscriber WHERE email = 'erin@example.org'") == [
        ("operator: asked by phone 2026-11-27",)]


@pytest.mark.parametrize("status", ["unsubscribed", "bounced", "complained"])
def test_import_and_add_leave_a_suppressed_reader_suppressed(cli, engine, status):
    path = cli.write("r.csv", "email\ngina@example.org\nhal@example.org\n")
    assert cli("subscribers", "import", path).exit_code == 0
    with store.session_scope(engine) as session:
        sub = store.subscribers.find_subscriber(session, email="gina@example.org")
        store.subscribers.set_subscriber_status(session, subscriber_id=sub.id, status=SubscriberStatus(status), now=NOW,
                                    only_from=[SubscriberStatus.active])
    result = cli("subscribers", "import", path)
    assert result.exit_code == 0 and "1 left suppressed" in result.stdout, result.output
    one_error(cli("subscribers", "add", "Gina@example.org"), "gina@example.org", status, "--resubscribe")
    usage = cli("subscribers", "add", "gina@example.org", "--resubscribe")
    assert usage.exit_code == 2 and "--consent-source" in usage.output
    assert {s["email"]: s["status"] for s in subscribers(cli)} == {"gina@example.org": status,
                                                                  "hal@example.org": "active"}
    ok = cli("subscribers", "add", "gina@example.org", "--resubscribe", "--consent-source", "signed form")
    assert ok.exit_code == 0 and "resubscribed gina@example.org" in ok.stdout
    assert {s["email"]: s["status"] for s in subscribers(cli)}["gina@example.org"] == "active"


def test_erase_keeps_only_a_hash_and_the_address_stays_suppressed(cli, smtpd, engine):
    path = cli.write("r.csv", "email,name\nivy@example.org,Ivy\n")
    assert cli("subscribers", "import", path).exit_code == 0
    assert cli("send", "--date", DAY).exit_code == 0
    result = cli("subscribers", "erase", "IVY@example.org")
    assert result.exit_code == 0 and "1 deliveries deleted" in result.stdout, result.output
    assert subscribers(cli) == []
    assert cli.query("SELECT count(*) FROM delivery") == [(0,)]
    assert cli.query("SELECT email_hash, reason FROM suppression") == [(address_hash("ivy@example.org"), "erased")]
    assert "ivy" not in repr(cli.query("SELECT * FROM suppression"))
    again = cli("subscribers", "import", path)
    assert again.exit_code == 0 and "0 new, 0 updated, 1 left suppressed" in again.stdout, again.output
    assert subscribers(cli) == []  # not even the address is stored again
    one_error(cli("subscribers", "add", "ivy@example.org"), "ivy@example.org", "erased")
    back = cli("subscribers", "add", "ivy@example.org", "--resubscribe", "--consent-source", "new sign-up form")
    assert back.exit_code == 0, back.output
    assert [s["status"] for s in subscribers(cli)] == ["active"]
    with store.read_session(engine) as session:
        assert session.get(Suppression, address_hash("ivy@example.org")) is None


def test_erase_leaves_no_confirmation_row_naming_the_address(cli, engine):
    """A web sign-up's confirmation row names the address: erase removes it with the rest."""
    assert cli("subscribers", "add", "jo@example.org").exit_code == 0
    with store.session_scope(engine) as session:
        sub = store.subscribers.find_subscriber(session, email="jo@example.org")
        assert store.confirmations.queue_confirmation(session, subscriber_id=sub.id, email="jo@example.org", now=NOW,
                                        window=timedelta(hours=1)) is not None
    assert cli.query("SELECT count(*) FROM confirmation") == [(1,)]
    assert cli("subscribers", "erase", "JO@example.org").exit_code == 0
    assert cli.query("SELECT count(*) FROM confirmation") == [(0,)]
    assert cli.query("SELECT count(*) FROM subscriber") == [(0,)]


def test_unknown_topics_are_reported_with_file_and_line(cli):
    path = cli.write("t.csv", "email,topics\njay@example.org,science\nkim@example.org,sciense;sport\n")
    result = cli("subscribers", "import", path)
    assert result.exit_code == 0, result.output
    assert f"warning: {path}:3: kim@example.org: unknown topic 'sciense'" in result.stderr
    assert f"{path}:2" not in result.stderr
    assert "1 with unknown topics" in result.stdout
