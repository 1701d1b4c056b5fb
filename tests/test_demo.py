"""`digest demo` as a user runs it: a real subprocess, a real capture SMTP server, a Maildir outbox."""

from __future__ import annotations

import json
import mailbox
import os
import re
import subprocess
import sys
from email import policy
from email.parser import BytesParser

import pytest

from tests.conftest import BACKENDS, PG_ABSENT, ROOT
from tests.pg import BIN


def digest(tmp_path, url, *args, secret=None, config=ROOT / "config.toml"):
    env = {**os.environ, "DIGEST_STORE_URL": url}
    env.pop("DIGEST_SECRET_KEY", None)
    if secret:
        env["DIGEST_SECRET_KEY"] = secret
    return subprocess.run([sys.executable, "-m", "digest", "--config", str(config), *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module", params=BACKENDS)
def demo_run(request, tmp_path_factory):
    """The demo, once per backend: its directory, its store's URL and the first run."""
    tmp = tmp_path_factory.mktemp("demo")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'digest.db'}"
    elif BIN is None:
        pytest.skip(PG_ABSENT)
    else:
        databases = request.getfixturevalue("postgres_databases")
        url = databases.store()
        request.addfinalizer(databases.drop_all)
    first = digest(tmp, url, "demo", "--var", str(tmp / "var"))
    return tmp, url, first


def outbox(tmp):
    box = mailbox.Maildir(str(tmp / "var" / "outbox"), factory=None, create=False)
    return [BytesParser(policy=policy.default).parsebytes(box.get_bytes(key)) for key in box.keys()]


def test_demo_sends_one_message_per_subscriber_with_stories(demo_run):
    tmp, url, run = demo_run
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    status = json.loads(digest(tmp, url, "status", "--json").stdout)
    messages = outbox(tmp)
    assert status["counts"]["sent"] == len(messages) >= 20
    assert status["counts"].get("skipped", 0) >= 1  # the subscribers whose filters match nothing
    sent = [(m["List-Id"], m["To"].addresses[0].addr_spec) for m in messages]
    assert len(sent) == len(set(sent))  # one message per reader per newsletter
    lists = {list_id for list_id, _ in sent}
    assert lists == {"The Morning Briefing <morning.news.example.com>", "Die Woche <woche.news.example.com>"}
    readers = [to for _, to in sent]
    assert any(readers.count(to) == 2 for to in readers)  # a reader of both got two messages
    assert "var/outbox/new" in run.stdout.replace(str(tmp) + "/", "") and "preview.html" in run.stdout


def test_the_demos_german_newsletter_is_in_german(demo_run):
    tmp, _, _ = demo_run
    woche = [m for m in outbox(tmp) if "woche." in m["List-Id"]]
    assert woche
    for msg in woche:
        text = msg.get_body(("plain",)).get_content()
        assert "Abbestellen" in text or "abbestellen" in text.lower(), text[-600:]
        assert "Unsubscribe" not in text and "You are receiving" not in text


def test_demo_messages_are_inlined_multipart(demo_run):
    tmp, url, _ = demo_run
    for msg in outbox(tmp):
        parts = {p.get_content_type(): p.get_content() for p in msg.walk() if not p.is_multipart()}
        assert "text/plain" in parts
        if msg.get_content_type() == "multipart/alternative":
            html = parts["text/html"]
            body = html.split("<body", 1)[1]
            assert "<style" not in body and 'style="' in body
            assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        else:
            assert msg.get_content_type() == "text/plain"


def test_demo_twice_sends_nothing_new(demo_run):
    tmp, url, _ = demo_run
    before = len(outbox(tmp))
    again = digest(tmp, url, "demo", "--var", str(tmp / "var"))
    assert again.returncode == 0, again.stderr
    assert "received 0 messages" in again.stdout
    key = (tmp / "var" / "secret.key").read_text()
    config = tmp / "var" / "demo-config.toml"  # config.toml and the demo's newsletters, as the hint says
    send = digest(tmp, url, "send", secret=key, config=config)  # the relay is never contacted: nothing is queued
    assert len(outbox(tmp)) == before
    assert re.search(r"morning:\S+: \d+ sent", send.stdout) and re.search(r"woche:\S+: \d+ sent", send.stdout), \
        send.stdout + send.stderr


def test_demo_includes_the_seed_article(demo_run):
    tmp, url, _ = demo_run
    listing = json.loads(digest(tmp, url, "articles", "list", "--json").stdout)
    seed = [a for a in listing if a["title"] == "Kim Jong Un Backs Russia's Stand on Ukraine"]
    assert seed and seed[0]["location"] == "Seoul" and seed[0]["country"] == "South Korea"
    assert len(listing) > 100


def test_every_demo_reader_who_matches_a_trending_story_has_a_trending_section(demo_run):
    """The demo flags about 15 stories trending; the per-topic cap used to leave Trending empty in 19 of 22
    emails. Every reader whose filters match a trending story now has the section, and only they have it."""
    from datetime import date

    from digest import store
    from digest.config import load_settings
    from digest.pipeline.plan import edition_plans, edition_ranking
    from digest.select import matches
    from tests.factories import sub_record

    tmp, url, _ = demo_run
    day = date.fromisoformat(json.loads(digest(tmp, url, "status", "--json").stdout)["date"])
    readers = {s["email"]: s for s in json.loads(digest(tmp, url, "subscribers", "list", "--json").stdout)}
    settings = load_settings(tmp / "var" / "demo-config.toml", environ={"DIGEST_STORE_URL": url})
    engine = store.open_engine(url)
    try:
        with store.read_session(engine) as session:
            trending = {(p.newsletter, p.period): edition_ranking(session, settings, p).trending
                        for p in edition_plans(settings, day)}
    finally:
        engine.dispose()
    assert len(trending[("morning", "daily")]) >= 10
    with_section = 0
    for msg in outbox(tmp):
        reader = readers[msg["To"].addresses[0].addr_spec]
        sub = sub_record(topics=tuple(reader["topics"]), countries=tuple(reader["countries"]))
        edition = ("woche", "weekly") if "woche." in msg["List-Id"] else ("morning", reader["frequency"])
        matching = any(matches(e, sub) is not None for e in trending[edition])
        text = next(p.get_content() for p in msg.walk() if p.get_content_type() == "text/plain")
        has_section = bool({"TRENDING", "IM TREND"} & set(text.splitlines()))  # the German edition says it so
        assert has_section == matching, (reader["email"], matching)
        with_section += has_section
    assert with_section >= 10
    assert ">Trending<" in (tmp / "var" / "preview.html").read_text()
