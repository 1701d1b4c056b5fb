"""An editor steers the next edition: pins, exclusions, the note, the approval gate. The controls reach every
path that builds an email (the send through a real aiosmtpd, `digest preview`, `send --dry-run`), changes after
planning are refused, and the approval gate holds the edition until an editor approves it."""

from __future__ import annotations

import email
import json
from dataclasses import replace
from datetime import timedelta
from email import policy
from types import SimpleNamespace

import pytest
from sqlmodel import select

from digest import store
from digest.editorial import fold, note_html
from digest.errors import InputError
from digest.models import Delivery, DeliveryItem, Edition, EditorialChange, Subscriber
from digest.operations import candidates as candidate_ops
from digest.operations import editorial as ops
from digest.operations.preview import render_preview
from digest.pipeline import DryRunMailer, dry_run_day
from tests.conftest import NOW, store_state
from tests.factories import seed, send_day, subscriber
from tests.test_admin import digest

pytestmark = pytest.mark.store

DAY = NOW.date()
KEY = f"digest:{DAY}"


def change(settings, engine, action, **fields):
    plan = ops.edition_of(settings, DAY)
    return ops.change(settings, plan, action, actor="editor@example.com", now=NOW, engine=engine, **fields)


def article_url(i: int) -> str:
    return f"https://news.example.com/a/{i}"


def parts(message: bytes) -> tuple[str, str]:
    parsed = email.message_from_bytes(message, policy=policy.default)
    return parsed.get_body(("plain",)).get_content(), parsed.get_body(("html",)).get_content()


def first_titles(engine, settings, address):
    found = render_preview(engine, settings, DAY, email=address, now=NOW)
    return [(p.section, p.entry.story.lead.title, p.reason) for p in found.selection.picks]


# ── the pure rules ──────────────────────────────────────────────────────────────────────────────────

def row(action, article_id=None, story_key=None, section=None, text=None, actor="a", at=NOW):
    return SimpleNamespace(action=action, article_id=article_id, story_key=story_key, section=section, text=text,
                           actor=actor, at=at)


def test_the_last_action_on_a_thing_wins():
    controls = fold([row("pin", 1, section="top"), row("pin", 2, section="trending"), row("exclude", 1),
                     row("exclude", 3), row("pin", 3), row("exclude", story_key="s9"), row("include", story_key="s9"),
                     row("note", text="first"), row("note", text="second"), row("approve", actor="ed"),
                     row("unapprove"), row("approve", actor="chief")])
    assert [(p.article_id, p.section) for p in controls.pins] == [(2, "trending"), (3, "top")]
    assert controls.excluded_articles == {1}
    assert controls.excluded_stories == frozenset()
    assert controls.note == "second"
    assert controls.approved_by == "chief"


@pytest.mark.parametrize("markdown, present, absent", [
    ("**Hello** _there_", ["<strong>Hello</strong>", "<em>there</em>"], []),
    ("<script>alert(1)</script> hi", ["&lt;script&gt;"], ["<script"]),
    ("[x](javascript:alert(1))", [], ["href", "<a "]),  # left as plain text
    ("![pixel](https://tracker.example/p.gif)", [], ["<img"]),
    ('<a href="https://x.example" onclick="evil()">x</a>', ["&lt;a href"], ["<a "]),  # raw HTML is text
    ("[guide](https://news.example.com/guide)", ['<a href="https://news.example.com/guide" rel="noopener">'], []),
])
def test_the_note_is_markdown_made_safe(markdown, present, absent):
    html = note_html(markdown)
    for text in present:
        assert text in html
    for text in absent:
        assert text not in html


# ── pins and exclusions reach every email ───────────────────────────────────────────────────────────

def test_a_pin_leads_every_readers_digest_whatever_their_topics(settings, engine):
    seed(engine, NOW, subscribers=0)
    with store.session_scope(engine) as session:
        store.subscribers.upsert_subscribers(session, now=NOW, subscribers=[
            subscriber("sport@example.com", topics=["sport"]), subscriber("one@example.com", max_items=1)])
    before = first_titles(engine, settings, "sport@example.com")
    assert before and all(title != "Story number 11" for _, title, _ in before)  # article 11 is about politics
    change(settings, engine, "pin", article=article_url(11))
    change(settings, engine, "pin", article=article_url(6), section="trending")
    sport = first_titles(engine, settings, "sport@example.com")
    assert sport[0] == ("top", "Story number 11", "pinned by the editor")
    assert ("trending", "Story number 6", "pinned by the editor") in sport
    assert [t for _, t, _ in sport].count("Story number 11") == 1
    assert first_titles(engine, settings, "one@example.com") == [("top", "Story number 11", "pinned by the editor")]


def test_excluded_articles_and_stories_are_in_no_digest_and_pins_lead_the_sent_ones(smtp_settings, smtpd, engine):
    seed(engine, NOW, subscribers=3)
    found = candidate_ops.candidates(smtp_settings, ops.edition_of(smtp_settings, DAY), engine=engine)
    best = found[0]
    change(smtp_settings, engine, "exclude", story=best.story_key)
    change(smtp_settings, engine, "exclude", article=article_url(2))
    change(smtp_settings, engine, "pin", article=article_url(9))
    change(smtp_settings, engine, "note", text="**Polls close at 8.** Our [guide](https://news.example.com/guide).")
    send_day(engine, smtp_settings)
    assert len(smtpd.handler.messages) == 3
    with store.read_session(engine) as session:
        items = session.exec(select(DeliveryItem)).all()
    carried = {i.article_id for i in items}
    assert not carried & {a.id for a in best.articles} and 2 not in carried
    assert {i.position for i in items if i.article_id == 9} == {0}
    text, html = parts(smtpd.handler.messages[0].data)
    assert "**Polls close at 8.**" in text and "<strong>Polls close at 8.</strong>" in html
    assert html.index("Polls close") < html.index("class=\"item-title\"") < html.index(">Story number 9<")


def test_the_dry_run_and_the_preview_show_the_controls_and_write_nothing(settings, engine):
    seed(engine, NOW, subscribers=2)
    change(settings, engine, "pin", article=article_url(12))
    change(settings, engine, "note", text="From the desk")
    before = store_state(settings.store.url)
    mailer = DryRunMailer()
    reports = dry_run_day(engine, settings, DAY, clock=lambda: NOW, on_line=lambda line: None, mailer=mailer)
    assert reports and reports[0].counts == {"would send": 2}
    assert all(sent.article_ids[0] == 12 for sent in mailer.sent)
    assert store_state(settings.store.url) == before
    preview = render_preview(engine, settings, DAY, email=None, now=NOW)
    assert "From the desk" in preview.text and preview.selection.picks[0].entry.story.lead.id == 12


# ── when changes are accepted ───────────────────────────────────────────────────────────────────────

def test_a_planned_edition_refuses_changes_and_logs_nothing(settings, engine, smtp_settings, smtpd):
    seed(engine, NOW, subscribers=2)
    send_day(engine, smtp_settings)
    with pytest.raises(InputError, match="already planned"):
        change(settings, engine, "pin", article=article_url(3))
    with store.read_session(engine) as session:
        assert session.exec(select(EditorialChange)).all() == []


@pytest.mark.parametrize("action, fields, message", [
    ("pin", {"article": "https://nowhere.example/x"}, "no article with URL"),
    ("pin", {"article": None}, "name the article"),
    ("pin", {"article": article_url(1), "section": "sidebar"}, "top or trending"),
    ("exclude", {}, "one of them"),
    ("exclude", {"story": "no-such-story"}, "no story"),
    ("note", {"text": "x" * 5001}, "at most 5000"),
])
def test_a_bad_change_is_one_line_and_logs_nothing(settings, engine, action, fields, message):
    seed(engine, NOW, subscribers=1)
    with pytest.raises(InputError, match=message) as raised:
        change(settings, engine, action, **fields)
    assert "\n" not in str(raised.value)
    with store.read_session(engine) as session:
        assert session.exec(select(EditorialChange)).all() == []


def test_a_day_without_an_edition_and_a_weekly_without_one_are_refused(settings):
    from tests.test_newsletters import two

    letters = two(settings)  # morning daily, woche weekly on Fridays (NOW is a Friday)
    assert ops.edition_of(letters, DAY, newsletter="woche").key == f"woche:{DAY}"
    with pytest.raises(InputError, match=f"woche has no edition on {DAY + timedelta(days=1)}"):
        ops.edition_of(letters, DAY + timedelta(days=1), newsletter="woche")
    with pytest.raises(InputError, match="no separate weekly edition"):
        ops.edition_of(letters, DAY, newsletter="woche", weekly=True)
    assert ops.edition_of(letters, DAY, newsletter="morning", weekly=True).key == f"morning:weekly:{DAY}"


# ── the approval gate ───────────────────────────────────────────────────────────────────────────────

def test_approval_required_holds_the_edition_until_an_editor_approves_it(smtp_settings, smtpd, engine):
    gated = replace(smtp_settings, send=replace(smtp_settings.send, approval="required"))
    seed(engine, NOW, subscribers=3)
    reports = send_day(engine, gated)
    assert [(r.key, r.held) for r in reports] == [(KEY, "awaiting_approval")]
    assert smtpd.handler.messages == []
    with store.read_session(engine) as session:
        edition = session.exec(select(Edition).where(Edition.key == KEY)).one()
        assert edition.held == "awaiting_approval"
        assert session.exec(select(Delivery)).all() == []
    assert send_day(engine, gated)[0].held == "awaiting_approval"  # a second tick: still nothing
    assert ops.show(gated, ops.edition_of(gated, DAY), engine=engine).state == "awaiting_approval"
    change(gated, engine, "approve")
    sent = send_day(engine, gated)
    assert [(r.key, r.held, r.counts) for r in sent] == [(KEY, None, {"sent": 3})]
    assert len(smtpd.handler.messages) == 3
    shown = ops.show(gated, ops.edition_of(gated, DAY), engine=engine)
    assert (shown.state, shown.approved_by) == ("done", "editor@example.com")
    assert [line.action for line in shown.log] == ["approve"]


def test_unapproving_holds_it_again(smtp_settings, smtpd, engine):
    gated = replace(smtp_settings, send=replace(smtp_settings.send, approval="required"))
    seed(engine, NOW, subscribers=1)
    send_day(engine, gated)
    change(gated, engine, "approve")
    change(gated, engine, "unapprove")
    assert send_day(engine, gated)[0].held == "awaiting_approval"
    assert smtpd.handler.messages == []


# ── the command line ────────────────────────────────────────────────────────────────────────────────

def test_the_editions_commands(settings, engine):
    seed(engine, NOW, subscribers=1)
    date = ["--date", str(DAY)]
    pinned = digest(settings, "editions", "pin", *date, "--article", article_url(4), "--section", "trending")
    assert pinned.exit_code == 0, pinned.output
    assert f"{KEY}: pin recorded" in pinned.output
    noted = digest(settings, "editions", "note", *date, "--text", "-", input="Hello *readers*\n")
    assert noted.exit_code == 0, noted.output
    shown = digest(settings, "editions", "show", *date, "--json")
    doc = json.loads(shown.output)
    assert doc["pins"][0]["id"] == 4 and doc["pins"][0]["section"] == "trending"
    assert doc["note"] == "Hello *readers*" and "<em>readers</em>" in doc["note_html"]
    assert [entry["action"] for entry in doc["log"]] == ["pin", "note"]
    assert doc["log"][0]["actor"].startswith("cli:")
    listed = digest(settings, "editions", "candidates", *date, "--json")
    assert json.loads(listed.output)[0]["pinned"] == "trending"
    with store.read_session(engine) as session:
        assert session.exec(select(Subscriber)).first() is not None


@pytest.mark.parametrize("args, code, message", [
    (["pin", "--article", "https://nowhere.example/x"], 1, "--article: no article with URL"),
    (["pin", "--date", "2026-13-01", "--article", article_url(1)], 2, "--date: expected YYYY-MM-DD"),
    (["show", "--newsletter", "nope"], 1, "nope"),
    (["exclude", "--article", article_url(1), "--story", "s1"], 1, "one of them"),
])
def test_the_editions_commands_fail_in_one_line(settings, engine, args, code, message):
    seed(engine, NOW, subscribers=1)
    result = digest(settings, "editions", *args, *([] if "--date" in args else ["--date", str(DAY)]))
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_the_daemon_says_once_that_an_edition_awaits_approval_then_sends_it_once_approved(
        smtp_settings, smtpd, engine, caplog):
    from digest.schedule import tick_job

    gated = replace(smtp_settings, send=replace(smtp_settings.send, approval="required"))
    seed(engine, NOW, subscribers=2)
    job = tick_job(engine, gated, clock=lambda: NOW + timedelta(minutes=5))
    with caplog.at_level("INFO", logger="digest.schedule"):
        job()
        job()
    said = [r.getMessage() for r in caplog.records if "awaiting an editor's approval" in r.getMessage()]
    assert said == [f"edition {KEY}: awaiting an editor's approval; nothing is planned or sent until it is approved "
                    "(the console, or `digest editions approve`)"]
    assert smtpd.handler.messages == []
    change(gated, engine, "approve")
    job()
    job()
    assert sorted(r for m in smtpd.handler.messages for r in m.rcpt_tos) == ["reader1@example.com",
                                                                             "reader2@example.com"]
