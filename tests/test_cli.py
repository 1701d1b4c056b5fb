"""The command line through Typer's runner: help, bad config, bad input, and the send path against a real aiosmtpd.

Every test works in its own directory with its own store (the tests marked `store` run on a SQLite file and on a
PostgreSQL database); the environment is passed explicitly on each call.
"""

from __future__ import annotations

import csv
import json
import os
import re
import traceback
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import typer.main
from typer.testing import CliRunner

from digest import store
from digest.cli import app
from tests.conftest import NOW, ROOT, SHARED, store_state
from tests.factories import seed
from tests.smtpd import FaultHandler, ThreadedSMTPServer

DAY = NOW.date().isoformat()  # the edition the seeded data is fresh for
NEWS_CSV = SHARED / "news-articles-2017-02-07_08.csv"
NEWS_MAP = "title=title,url=article_source_link,published=publish_date,summary=subtitle,body=text"
ARTICLE_KEYS = {"id", "url", "guid", "title", "summary", "body", "source", "author", "location", "country", "topics",
                "image_url", "published_at", "updated_at"}
SUBSCRIBER_KEYS = {"id", "email", "name", "status", "topics", "countries", "frequency", "weekday", "send_at",
                   "timezone", "max_items", "format", "subscriptions"}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$")


class Digest:
    """`digest(*args, env=None)`: run the CLI in the test's directory with the test's environment."""

    def __init__(self, tmp_path: Path, store_url: str, port: int | None = None) -> None:
        self.tmp = tmp_path
        self.url = store_url
        self.runner = CliRunner()
        self.env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("DIGEST_")}
        self.env.update({
            "DIGEST_STORE_URL": store_url,
            "DIGEST_SECRET_KEY": "test-secret-key-0123456789abcdef-0123",
            "DIGEST_RENDER_TEMPLATES": str(ROOT / "templates" / "email"),
            "DIGEST_SCHEDULE_TIMEZONE": "UTC",
            "DIGEST_SCHEDULE_SEND_AT": "07:00",
            "DIGEST_SMTP_HOST": "127.0.0.1",
            "DIGEST_SMTP_PORT": str(port or 2525),
            "DIGEST_SMTP_TLS": "none",
            "DIGEST_SMTP_TIMEOUT": "5",
            "DIGEST_SMTP_CONNECTIONS": "2",
        })

    def __call__(self, *args: str, env: dict[str, str | None] | None = None):
        result = self.runner.invoke(app, [str(a) for a in args], env={**self.env, **(env or {})})
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError("uncaught exception:\n" + "".join(traceback.format_exception(result.exception)))
        return result

    def json(self, *args: str, env=None):
        result = self(*args, "--json", env=env)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)  # one JSON document, nothing else on stdout

    def write(self, name: str, text: str) -> Path:
        path = self.tmp / name
        path.write_text(text, encoding="utf-8")
        return path

    def state(self):
        return store_state(self.url)

    def query(self, sql: str):
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        engine = create_engine(self.url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                return conn.execute(text(sql)).all()
        finally:
            engine.dispose()


@pytest.fixture
def digest(tmp_path, monkeypatch, store_url):
    monkeypatch.chdir(tmp_path)  # no ./config.toml unless a test writes one
    return Digest(tmp_path, store_url)


@pytest.fixture
def smtpd():
    with ThreadedSMTPServer() as server:
        yield server


@pytest.fixture
def seeded(tmp_path, monkeypatch, smtpd, store_url):
    """Five daily subscribers and twelve fresh articles for DAY; the CLI points at the test SMTP server."""
    monkeypatch.chdir(tmp_path)
    cli = Digest(tmp_path, store_url, port=smtpd.port)
    engine = store.open_engine(store_url)
    seed(engine, NOW, subscribers=5)
    engine.dispose()
    return cli


def one_error(result, *needles: str, code: int = 1) -> str:
    """Exit `code` (1; 2 for usage errors), exactly one `error:` line on stderr (containing every needle), nothing
    else, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


# ── help ──────────────────────────────────────────────────────────────────────────────────────────────

def _walk(command, path: tuple[str, ...] = ()):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():  # a group (click's or Typer's own click)
        yield from _walk(sub, path + (name,))


def test_every_command_has_help(digest):
    commands = list(_walk(typer.main.get_command(app)))
    names = {" ".join(p) for p, _ in commands}
    for expected in ("demo", "ingest", "events import", "articles list", "subscribers add", "subscribers import",
                     "subscribers list", "subscribers remove", "preview", "send", "status", "run"):
        assert expected in names
    for path, command in commands:
        assert (command.help or command.short_help or "").strip(), f"no help for {' '.join(path) or 'digest'}"
        for param in command.params:
            assert (getattr(param, "help", None) or "").strip(), f"no help for {param.name} of {' '.join(path)}"
        result = digest(*path, "--help")
        assert result.exit_code == 0, result.output
        assert "Usage" in result.stdout


# ── configuration ─────────────────────────────────────────────────────────────────────────────────────

@pytest.mark.parametrize("toml, needles", [
    ('[smtp]\nbogus = 1\n', ["[smtp]", "bogus"]),
    ('[smtp]\nport = "abc"\n', ["[smtp]", "port"]),
    ('[schedule]\ntimezone = "Mars/Olympus"\n', ["[schedule]", "timezone"]),
    ('[smtp]\npassword = "x"\n', ["[smtp]", "password", "DIGEST_SMTP_PASSWORD"]),
    ('[nonsense]\nkey = 1\n', ["nonsense"]),
    ('[smtp\nport = 25\n', []),
], ids=["unknown-key", "wrong-type", "unknown-timezone", "secret-in-file", "unknown-section", "invalid-toml"])
def test_bad_config_file_is_one_line_naming_file_and_key(digest, toml, needles):
    path = digest.write("bad.toml", toml)
    env = {"DIGEST_SCHEDULE_TIMEZONE": None}  # the file's value must not be masked by the environment
    one_error(digest("--config", path, "subscribers", "list", env=env), str(path), *needles)
    one_error(digest("--config", path, "status", env=env), str(path), *needles)


def test_bad_environment_variable_is_one_line_naming_it(digest):
    one_error(digest("subscribers", "list", env={"DIGEST_SMTP_PORT": "abc"}), "DIGEST_SMTP_PORT", "abc")
    one_error(digest("subscribers", "list", env={"DIGEST_SCHEDULE_TIMEZONE": "Nowhere/Atall"}),
              "DIGEST_SCHEDULE_TIMEZONE", "Nowhere/Atall")


def test_missing_config_file_is_one_line(digest):
    one_error(digest("--config", digest.tmp / "absent.toml", "status"), "absent.toml")


@pytest.mark.store
def test_config_file_is_read_and_environment_overrides_it(digest, new_store_url, backend):
    other = new_store_url()
    path = digest.write("good.toml", f'[store]\nurl = "{other}"\n[schedule]\ntimezone = "Asia/Tokyo"\n')
    env = {"DIGEST_STORE_URL": None, "DIGEST_SCHEDULE_TIMEZONE": None}
    assert digest("--config", path, "subscribers", "add", "a@example.com", env=env).exit_code == 0
    if backend == "sqlite":
        assert not (digest.tmp / "digest.db").exists()
    assert [s["email"] for s in digest.json("subscribers", "list", env={"DIGEST_STORE_URL": other})] == \
        ["a@example.com"]
    # the env variable wins over the file: the default store is empty
    assert digest("--config", path, "subscribers", "add", "b@example.com").exit_code == 0
    assert [s["email"] for s in digest.json("subscribers", "list")] == ["b@example.com"]
    # ./config.toml is picked up when present
    (digest.tmp / "config.toml").write_text(path.read_text())
    assert [s["email"] for s in digest.json("subscribers", "list", env=env)] == ["a@example.com"]


# ── subscribers ───────────────────────────────────────────────────────────────────────────────────────

@pytest.mark.store
def test_subscribers_add_list_remove(digest):
    result = digest("subscribers", "add", "Alice.Smith@Example.COM", "--name", "Alice Smith",
                    "--topics", "Politics;science", "--countries", "Germany,Japan", "--frequency", "weekly",
                    "--weekday", "mon", "--send-at", "08:30", "--timezone", "Europe/Berlin", "--max-items", "5",
                    "--format", "text")
    assert result.exit_code == 0, result.output
    assert digest("subscribers", "add", "bob@example.org").exit_code == 0
    subs = digest.json("subscribers", "list")
    assert len(subs) == 2 and all(set(s) == SUBSCRIBER_KEYS for s in subs)
    alice = next(s for s in subs if s["name"] == "Alice Smith")
    assert alice["email"] == "alice.smith@example.com"  # one normalised form: lower case
    assert [(x["newsletter"], x["status"], x["frequency"]) for x in alice["subscriptions"]] == [
        ("digest", "active", None)]  # the one newsletter; its preferences are the reader's own
    assert {k: alice[k] for k in SUBSCRIBER_KEYS - {"id", "subscriptions"}} == {
        "email": "alice.smith@example.com", "name": "Alice Smith", "status": "active",
        "topics": ["politics", "science"], "countries": ["Germany", "Japan"], "frequency": "weekly",
        "weekday": "mon", "send_at": "08:30", "timezone": "Europe/Berlin", "max_items": 5, "format": "text"}
    bob = next(s for s in subs if s["email"] == "bob@example.org")
    assert (bob["frequency"], bob["weekday"], bob["format"], bob["topics"]) == ("daily", None, "html", [])

    # adding the same address (any case, local part too) updates, not duplicates
    assert digest("subscribers", "add", "ALICE.smith@EXAMPLE.com", "--max-items", "7").exit_code == 0
    subs = digest.json("subscribers", "list")
    assert [s["max_items"] for s in subs if s["email"] == "alice.smith@example.com"] == [7] and len(subs) == 2

    result = digest("subscribers", "remove", "Bob@EXAMPLE.org")
    assert result.exit_code == 0, result.output
    assert [s["status"] for s in digest.json("subscribers", "list") if s["email"] == "bob@example.org"] == ["removed"]
    again = digest("subscribers", "remove", "bob@example.org")
    assert again.exit_code == 0 and "already removed" in again.output
    one_error(digest("subscribers", "remove", "nobody@example.com"), "nobody@example.com")


@pytest.mark.store
@pytest.mark.parametrize("args, needle", [
    (["not-an-email"], "email"),
    (["a@b"], "email"),
    (["x@example.com", "--timezone", "Mars/Base"], "Mars/Base"),
    (["x@example.com", "--frequency", "weekly"], "weekday"),
    (["x@example.com", "--frequency", "hourly"], "frequency"),
    (["x@example.com", "--send-at", "25:00"], "send_at"),
    (["x@example.com", "--format", "pdf"], "format"),
    (["x@example.com", "--max-items", "0"], "max_items"),
], ids=["no-at", "no-dot", "timezone", "weekly-no-weekday", "frequency", "send-at", "format", "max-items"])
def test_subscribers_add_rejects_bad_values(digest, args, needle):
    assert digest("subscribers", "add", "ok@example.com").exit_code == 0
    one_error(digest("subscribers", "add", *args), needle)
    assert [s["email"] for s in digest.json("subscribers", "list")] == ["ok@example.com"]


def _subscribers_csv(digest, name: str, n: int, *, bad: dict[int, dict] | None = None, suffix: str = "") -> Path:
    """A subscribers CSV with a header and `n` rows; `bad` replaces fields of data row i (file line i + 2)."""
    rows = []
    for i in range(n):
        row = {"email": f"user{i}@Example.com", "name": f"User {i}{suffix}", "topics": "politics;sport",
               "countries": "Germany", "frequency": "weekly" if i % 5 == 0 else "daily",
               "weekday": "fri" if i % 5 == 0 else "", "send_at": "06:45", "timezone": "America/New_York",
               "max_items": str(3 + i % 5), "format": "text" if i % 2 else "html"}
        row.update((bad or {}).get(i, {}))
        rows.append(row)
    path = digest.tmp / name
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.store
def test_subscribers_import_upserts_by_email(digest):
    good = _subscribers_csv(digest, "subs.csv", 50)
    result = digest("subscribers", "import", good)
    assert result.exit_code == 0, result.output
    subs = digest.json("subscribers", "list")
    assert len(subs) == 50
    assert {s["email"] for s in subs} == {f"user{i}@example.com" for i in range(50)}
    weekly = next(s for s in subs if s["email"] == "user5@example.com")
    assert (weekly["frequency"], weekly["weekday"], weekly["timezone"], weekly["send_at"]) == \
        ("weekly", "fri", "America/New_York", "06:45")

    changed = _subscribers_csv(digest, "subs2.csv", 50, suffix=" (renamed)")
    assert digest("subscribers", "import", changed).exit_code == 0
    subs = digest.json("subscribers", "list")
    assert len(subs) == 50
    assert all(s["name"].endswith("(renamed)") for s in subs)


@pytest.mark.store
@pytest.mark.parametrize("bad, needle", [
    ({"email": "not-an-email"}, "email"),
    ({"timezone": "Atlantis/Capital"}, "Atlantis/Capital"),
], ids=["bad-email", "unknown-timezone"])
def test_subscribers_import_with_a_bad_row_stores_nothing(digest, bad, needle):
    assert digest("subscribers", "add", "keep@example.com").exit_code == 0
    path = _subscribers_csv(digest, "bad.csv", 20, bad={2: bad})  # data row 2 is file line 4
    line = one_error(digest("subscribers", "import", path), f"{path}:4", needle)
    assert "nothing was stored" in line
    assert [s["email"] for s in digest.json("subscribers", "list")] == ["keep@example.com"]


# ── ingest and articles ───────────────────────────────────────────────────────────────────────────────

@pytest.mark.store
def test_ingest_shared_csv_with_a_map(digest):
    result = digest("ingest", NEWS_CSV, "--map", NEWS_MAP)
    assert result.exit_code == 0, result.output
    assert "339 new" in result.stdout
    articles = digest.json("articles", "list")
    assert len(articles) == 339
    assert len({a["url"] for a in articles}) == 339
    for a in articles:
        assert set(a) == ARTICLE_KEYS
        assert ISO_UTC.match(a["published_at"]) and ISO_UTC.match(a["updated_at"]), a
        assert a["source"] == urlsplit(a["url"]).hostname.removeprefix("www."), a
        assert a["title"] and a["url"].startswith("http")
    assert any(a["published_at"].startswith("2017-02-07") for a in articles)

    again = digest("ingest", NEWS_CSV, "--map", NEWS_MAP)
    assert again.exit_code == 0, again.output
    assert re.search(r"\b0 new\b", again.stdout) and "339 unchanged" in again.stdout, again.stdout
    assert len(digest.json("articles", "list")) == 339


def _jsonl(digest, name: str, rows: list[dict]) -> Path:
    return digest.write(name, "".join(json.dumps(r) + "\n" for r in rows))


@pytest.mark.store
def test_ingest_jsonl_strips_tracking_and_rejects_bad_rows_whole(digest):
    good = _jsonl(digest, "good.jsonl", [
        {"url": "https://WWW.Example.com/world/story-1?id=5&utm_source=twitter&utm_medium=social#top",
         "title": "First story", "summary": "One.", "published": "2026-11-27T05:00:00+01:00",
         "country": "Germany", "topics": "politics;world"},
        {"url": "https://news.example.org/b", "title": "Second story", "published": "2026-11-26 22:00",
         "source": "The Example"},
    ])
    result = digest("ingest", good)
    assert result.exit_code == 0, result.output
    articles = {a["title"]: a for a in digest.json("articles", "list")}
    first = articles["First story"]
    assert first["url"] == "https://www.example.com/world/story-1?id=5"
    assert "utm_" not in json.dumps(list(articles.values()))
    assert first["published_at"] in ("2026-11-27T04:00:00Z", "2026-11-27T04:00:00+00:00")
    assert first["source"] == "example.com" and first["topics"] == ["politics", "world"]
    assert articles["Second story"]["source"] == "The Example"

    bad = _jsonl(digest, "bad.jsonl", [
        {"url": "https://news.example.org/c", "title": "Would be new", "published": "2026-11-26T10:00:00Z"},
        {"url": "https://news.example.org/d", "title": "Bad date", "published": "the day before yesterday"},
        {"url": "https://news.example.org/e", "title": "Also new", "published": "2026-11-26T11:00:00Z"},
    ])
    one_error(digest("ingest", bad), f"{bad}:2", "published")
    assert sorted(a["title"] for a in digest.json("articles", "list")) == ["First story", "Second story"]


@pytest.mark.store
def test_ingest_bad_map_and_missing_file(digest):
    one_error(digest("ingest", NEWS_CSV, "--map", "headline=title"), "headline")
    one_error(digest("ingest", digest.tmp / "nope.csv"), "nope.csv")


# ── events ────────────────────────────────────────────────────────────────────────────────────────────

def _engagement(digest) -> tuple[int, int]:
    (total, rows), = digest.query("SELECT COALESCE(SUM(count), 0), COUNT(*) FROM engagement")
    return total, rows


@pytest.mark.store
def test_events_import(digest):
    articles = _jsonl(digest, "a.jsonl", [
        {"url": f"https://news.example.com/a/{i}", "title": f"Story {i}", "published": "2026-11-27T01:00:00Z"}
        for i in range(1, 4)])
    assert digest("ingest", articles).exit_code == 0
    events = digest.write("events.csv", "url,kind,count,at\n"
                          "https://news.example.com/a/1?utm_source=x,view,10,2026-11-27T05:10:00Z\n"
                          "https://news.example.com/a/1,view,5,2026-11-27T05:50:00Z\n"
                          "https://news.example.com/a/2,click,3,2026-11-27T06:00:00Z\n")
    result = digest("events", "import", events)
    assert result.exit_code == 0, result.output
    assert _engagement(digest) == (18, 2)

    bad_kind = digest.write("bad-kind.csv", "url,kind,count,at\n"
                            "https://news.example.com/a/3,view,7,2026-11-27T03:00:00Z\n"
                            "https://news.example.com/a/3,like,1,2026-11-27T03:00:00Z\n")
    one_error(digest("events", "import", bad_kind), f"{bad_kind}:3", "kind")
    bad_article = digest.write("bad-article.csv", "url,kind,count,at\n"
                               "https://news.example.com/a/3,view,7,2026-11-27T03:00:00Z\n"
                               "https://news.example.com/a/99,view,1,2026-11-27T03:00:00Z\n")
    one_error(digest("events", "import", bad_article), f"{bad_article}:3", "https://news.example.com/a/99")
    assert _engagement(digest) == (18, 2)


# ── preview, dry run, send, status ────────────────────────────────────────────────────────────────────

@pytest.mark.store
def test_preview_formats_touch_nothing(seeded, smtpd):
    before = seeded.state()
    html = seeded("preview", "--date", DAY, "--format", "html")
    assert html.exit_code == 0, html.output
    assert "<html" in html.stdout.lower() and "Story number" in html.stdout
    text = seeded("preview", "--date", DAY, "--format", "text", "--subscriber", "reader1@example.com")
    assert text.exit_code == 0, text.output
    assert "Story number" in text.stdout and "<table" not in text.stdout

    eml = seeded("preview", "--date", DAY, "--format", "eml", "--subscriber", "reader2@example.com")
    assert eml.exit_code == 0, eml.output
    msg = message_from_bytes(eml.stdout_bytes, policy=policy.default)
    for header in ("From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Unsubscribe",
                   "List-Unsubscribe-Post", "Auto-Submitted"):
        assert msg[header], f"missing {header}"
    assert "reader2@example.com" in msg["To"]
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg.get_content_type() == "multipart/alternative"

    doc = seeded("preview", "--date", DAY, "--format", "json")
    assert doc.exit_code == 0, doc.output
    explained = json.loads(doc.stdout)
    assert explained["items"] and all(item["title"] and item["url"] for item in explained["items"])

    out = seeded.tmp / "preview.html"
    result = seeded("preview", "--date", DAY, "--out", out)
    assert result.exit_code == 0 and out.read_text().lower().count("<html") == 1

    one_error(seeded("preview", "--date", DAY, "--subscriber", "unknown@example.com"), "unknown@example.com", code=2)

    assert seeded.state() == before
    assert smtpd.handler.messages == [] and smtpd.handler.ehlo_names == []


@pytest.mark.store
def test_preview_without_a_store_is_one_line(digest, backend, request):
    if backend == "sqlite":
        one_error(digest("preview"), "digest.db")
        assert not (digest.tmp / "digest.db").exists()
    else:  # a database that does not exist on the server
        absent = request.getfixturevalue("postgres_server").url("absent")
        for command in (["preview"], ["status"], ["send", "--dry-run"], ["subscribers", "list"]):
            one_error(digest(*command, env={"DIGEST_STORE_URL": absent}), "absent", "does not exist")


@pytest.mark.store
def test_send_dry_run_writes_and_sends_nothing(seeded, smtpd):
    before = seeded.state()
    result = seeded("send", "--date", DAY, "--dry-run")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for i in range(1, 6):
        assert sum(f"reader{i}@example.com" in line for line in lines) == 1, result.stdout
    assert any(line.startswith("dry run") and "nothing sent" in line for line in lines), result.stdout
    assert seeded.state() == before
    assert smtpd.handler.messages == [] and smtpd.handler.ehlo_names == []
    # and without a secret key a dry run still works (no link is sent anywhere)
    assert seeded("send", "--date", DAY, "--dry-run", env={"DIGEST_SECRET_KEY": None}).exit_code == 0
    assert seeded.state() == before


@pytest.mark.store
def test_send_delivers_once_and_status_agrees(seeded, smtpd):
    result = seeded("send", "--date", DAY)
    assert result.exit_code == 0, result.output
    received = sorted(r for m in smtpd.handler.messages for r in m.rcpt_tos)
    assert received == [f"reader{i}@example.com" for i in range(1, 6)]
    for m in smtpd.handler.messages:
        msg = message_from_bytes(m.data, policy=policy.default)
        assert msg.get_content_type() == "multipart/alternative" and msg["List-Unsubscribe"]

    again = seeded("send", "--date", DAY)
    assert again.exit_code == 0, again.output
    assert len(smtpd.handler.messages) == 5

    status = seeded.json("status", "--date", DAY)
    assert {"edition", "counts", "total"} <= set(status)
    assert status["edition"] == f"digest:{DAY}"
    assert status["counts"].get("sent") == len(smtpd.handler.messages) == 5
    assert status["total"] == sum(status["counts"].values()) == 5
    table = seeded("status", "--date", DAY)
    assert table.exit_code == 0 and f"digest:{DAY}" in table.stdout


@pytest.mark.store
def test_send_with_a_refused_recipient_exits_3(tmp_path, monkeypatch, store_url):
    monkeypatch.chdir(tmp_path)
    handler = FaultHandler(rcpt_replies={"reader3@example.com": "550 5.1.1 unknown"})
    with ThreadedSMTPServer(handler) as server:
        cli = Digest(tmp_path, store_url, port=server.port)
        engine = store.open_engine(store_url)
        seed(engine, NOW, subscribers=5)
        engine.dispose()
        result = cli("send", "--date", DAY)
        assert result.exit_code == 3, result.output
        assert "Traceback" not in result.output
        assert sorted(r for m in handler.messages for r in m.rcpt_tos) == \
            [f"reader{i}@example.com" for i in (1, 2, 4, 5)]
        status = cli.json("status", "--date", DAY)
        assert status["counts"].get("bounced") == 1 and status["counts"].get("sent") == 4
        assert status["total"] == 5
        problems = [p for e in status.get("editions", []) for p in e.get("problems", [])]
        assert [(p["email"], p["smtp_code"]) for p in problems] == [("reader3@example.com", 550)]


@pytest.mark.store
def test_send_needs_the_secret_key(seeded, smtpd):
    one_error(seeded("send", "--date", DAY, env={"DIGEST_SECRET_KEY": None}), "DIGEST_SECRET_KEY")
    assert smtpd.handler.messages == [] and smtpd.handler.ehlo_names == []


@pytest.mark.parametrize("command", [["send"], ["send", "--dry-run"], ["preview"], ["status"]])
def test_bad_date_is_one_line(seeded, command):
    for bad in ("2026-13-40", "26-11-27", "0001-01-01", "99999-01-01"):  # a usage error, as the README says: 2
        one_error(seeded(*command, "--date", bad), "--date", bad, code=2)


@pytest.mark.store
def test_status_without_an_edition_is_one_line(seeded):
    one_error(seeded("status", "--date", "2020-01-01"), "2020-01-01")


def test_usage_errors_exit_2(digest):
    for args in (["frobnicate"], ["subscribers", "frobnicate"], ["send", "--limit", "many"], ["ingest"],
                 ["preview", "--format", "pdf"], ["status", "--bogus"]):
        result = digest(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
        assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: "), (args, result.stderr)


# ── mistakes a user makes are one line (issue 13, item 13) ────────────────────────────────────────────

def test_a_closed_pipe_ends_the_command_quietly(tmp_path):
    """`digest subscribers list | head -1`: the reader went away; no error line, the status of a SIGPIPE."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env["DIGEST_STORE_URL"] = f"sqlite:///{tmp_path / 'd.db'}"
    rows = "".join(f"reader{i}@example.com,Reader {i}\n" for i in range(3000))  # far more than a pipe buffer
    (tmp_path / "subs.csv").write_text("email,name\n" + rows)
    run = [sys.executable, "-m", "digest"]
    subprocess.run([*run, "subscribers", "import", "subs.csv"], cwd=tmp_path, env=env, check=True,
                   capture_output=True, timeout=120)
    for args in (["subscribers", "list"], ["subscribers", "list", "--json"], ["articles", "list", "--json"]):
        shell = subprocess.run(["bash", "-c", " ".join(run + args) + " | head -1; exit ${PIPESTATUS[0]}"],
                               cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert shell.stderr == "", (args, shell.stderr)
        assert len(shell.stdout.splitlines()) == 1
        # 141 as for `yes | head -1`; 0 when CPython's one large write was cut short without an error
        assert shell.returncode in (0, 141), (args, shell.returncode)


@pytest.mark.store
def test_preview_to_an_unwritable_path_is_one_line(seeded):
    before = seeded.state()
    for out in ("/nonexistent/dir/x.html", str(seeded.tmp)):  # no such directory; a directory
        one_error(seeded("preview", "--date", DAY, "--out", out), out, "cannot write")
    assert seeded.state() == before


@pytest.mark.store
def test_send_for_an_unknown_subscriber_is_a_usage_error(seeded, smtpd):
    before = seeded.state()
    for extra in (["--dry-run"], []):
        one_error(seeded("send", "--date", DAY, "--subscriber", "x@y.z", *extra), "x@y.z", code=2)
        one_error(seeded("send", "--date", DAY, "--subscriber", "reader1@example.com", "--subscriber",
                         "nobody@example.org", *extra), "nobody@example.org", code=2)
        one_error(seeded("send", "--date", DAY, "--subscriber", "not-an-address", *extra), "not-an-address", code=2)
    assert seeded.state() == before
    assert smtpd.handler.messages == [] and smtpd.handler.ehlo_names == []
    known = seeded("send", "--date", DAY, "--dry-run", "--subscriber", "reader2@example.com")
    assert known.exit_code == 0 and "reader2@example.com" in known.stdout


@pytest.mark.parametrize("variable, value", [
    ("DIGEST_SMTP_TIMEOUT", "nan"), ("DIGEST_SMTP_DATA_TIMEOUT", "inf"), ("DIGEST_SEND_DEADLINE_HOURS", "nan"),
    ("DIGEST_SELECTION_WINDOW_HOURS", "inf"), ("DIGEST_SELECTION_WINDOW_HOURS", "1e300"),
    ("DIGEST_SELECTION_WEEKLY_WINDOW_HOURS", "-Infinity"), ("DIGEST_SMTP_RATE_PER_SECOND", "NaN"),
    ("DIGEST_SELECTION_WEIGHT_SHARE", "1e308"), ("DIGEST_SEND_RETRY_MAX_SECONDS", "1e12"),
    ("DIGEST_SELECTION_MAX_ITEMS", "99999999999999999999"), ("DIGEST_SMTP_PORT", "70000"),
    ("DIGEST_SCHEDULE_TIMEZONE", "Mars/Olympus"), ("DIGEST_STORE_URL", "not a url"), ("DIGEST_STORE_URL", "mysql://h/db"),
])
def test_a_bad_environment_value_names_the_variable_not_the_file(digest, variable, value):
    digest.write("config.toml", '[smtp]\nhost = "relay.example.com"\n')  # a file is there: the value is not from it
    for command in (["status"], ["send", "--dry-run"], ["preview"]):
        line = one_error(digest(*command, env={variable: value}), f"environment {variable}:")
        assert "config.toml" not in line, line


def test_a_config_file_that_is_not_utf8_is_one_line(digest):
    path = digest.tmp / "latin1.toml"
    path.write_bytes('[sender]\nfrom_name = "Café"\n'.encode("latin-1"))
    one_error(digest("--config", path, "status"), str(path), "UTF-8")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "+inf"])
def test_non_finite_numbers_in_the_file_name_file_and_key(digest, value):
    path = digest.write("bad.toml", f"[smtp]\ntimeout = {value}\n")
    one_error(digest("--config", path, "status"), str(path), "[smtp] timeout", "finite")


def test_the_secret_key_error_names_the_variable_that_exists(digest):
    for section in ("web", "sender", "smtp"):
        path = digest.write("bad.toml", f'[{section}]\nsecret_key = "x"\n')
        line = one_error(digest("--config", path, "status"), str(path), f"[{section}] secret_key", "DIGEST_SECRET_KEY")
        assert f"DIGEST_{section.upper()}_SECRET_KEY" not in line


@pytest.mark.store
def test_a_short_secret_key_is_refused(seeded, smtpd):
    for key in ("k", "x" * 31, "é" * 15):  # 1, 31 and 30 bytes
        for command in (["send", "--date", DAY], ["run"], ["serve"], ["status"]):
            one_error(seeded(*command, env={"DIGEST_SECRET_KEY": key}), "DIGEST_SECRET_KEY", "32 bytes")
    assert smtpd.handler.messages == []
    assert seeded("send", "--date", DAY, env={"DIGEST_SECRET_KEY": "é" * 16}).exit_code == 0  # 32 bytes


def test_a_file_that_is_not_a_store_is_one_line(digest):
    (digest.tmp / "notes.db").write_text("not a database\n" * 100)
    env = {"DIGEST_STORE_URL": f"sqlite:///{digest.tmp / 'notes.db'}"}
    for command in (["status"], ["subscribers", "list"], ["subscribers", "add", "a@example.com"], ["preview"]):
        one_error(digest(*command, env=env), "notes.db", "not a database")


def test_other_bad_arguments_are_one_line(digest, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    one_error(digest("demo", "--var", blocked / "var"), "--var", str(blocked / "var"))
    one_error(digest("db", "prune", "--keep-days", "99999999999"), "--keep-days", code=2)
    one_error(digest("--bogus", "status"), "--bogus", code=2)


@pytest.mark.store
def test_the_weekly_edition_has_its_own_name(tmp_path, monkeypatch, smtpd, store_url):
    monkeypatch.chdir(tmp_path)
    cli = Digest(tmp_path, store_url, port=smtpd.port)
    engine = store.open_engine(store_url)
    seed(engine, NOW, subscribers=2, frequency="weekly", weekday="fri")  # NOW is a Friday
    engine.dispose()
    for fmt in ("html", "text"):
        preview = cli("preview", "--date", DAY, "--subscriber", "reader1@example.com", "--format", fmt)
        assert preview.exit_code == 0, preview.output
        assert "The Weekly Digest" in preview.stdout.replace("THE WEEKLY DIGEST", "The Weekly Digest")
        assert "daily digest" not in preview.stdout.lower()
    result = cli("send", "--date", DAY)
    assert result.exit_code == 0 and f"digest:weekly:{DAY}" in result.stdout, result.output
    assert len(smtpd.handler.messages) == 2
    for m in smtpd.handler.messages:
        msg = message_from_bytes(m.data, policy=policy.default)
        assert msg["Subject"].endswith("The Weekly Digest, week to Fri 27 Nov"), msg["Subject"]
        html = msg.get_body(("html",)).get_content()
        text = msg.get_body(("plain",)).get_content()
        assert re.search(r'class="list-name"[^>]*>The Weekly Digest<', html), html[:2000]
        assert text.replace("\r\n", "\n").lstrip().startswith("THE WEEKLY DIGEST\nThe week to Friday 27 November 2026"), repr(text[:80])
        assert "Daily Digest" not in html + text
    named = cli.write("named.toml", '[sender]\nlist_name = "Example News"\nweekly_name = "Example News Weekly"\n')
    preview = cli("--config", named, "preview", "--date", DAY, "--subscriber", "reader2@example.com", "--format", "eml")
    assert "Example News Weekly, week to" in message_from_bytes(preview.stdout_bytes, policy=policy.default)["Subject"]


def test_css_the_inliner_cannot_parse_is_one_line_naming_the_template(seeded, smtpd):
    """An operator's own template with broken CSS: one line naming it, nothing planned or sent."""
    import shutil

    templates = seeded.tmp / "email"
    shutil.copytree(ROOT / "templates" / "email", templates)
    base = templates / "base.html"
    base.write_text(base.read_text(encoding="utf-8").replace("<body>", '<body style="color: red; {">', 1),
                    encoding="utf-8")
    before = seeded.state()
    env = {"DIGEST_RENDER_TEMPLATES": str(templates)}
    one_error(seeded("preview", "--date", DAY, "--format", "html", env=env), "digest.html", "CSS error")
    assert seeded.state() == before
    sent = seeded("send", "--date", DAY, env=env)
    assert sent.exit_code == 1 and "Traceback" not in sent.output
    assert sent.stderr.strip().splitlines()[-1].startswith("error: ") and "CSS error" in sent.stderr
    assert smtpd.handler.messages == []
    assert seeded.query("SELECT count(*) FROM delivery WHERE status = 'sent'") == [(0,)]
