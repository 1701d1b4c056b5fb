"""The console's plan pages: the next editions, and one edition's candidates, pins, exclusions, note, approval
and log, steered through the same function `digest editions` calls; the framed preview shows what a reader
would get now, with a CSP that allows no script."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from argon2 import PasswordHasher
from starlette.testclient import TestClient

from digest.operations import admin as admin_ops
from digest.operations import editorial as ops
from digest.send import RecordingMailer
from digest.web import create_app
from tests.conftest import NOW
from tests.factories import seed, send_day
from tests.test_admin import BASE, Clock, add, digest, login

pytestmark = pytest.mark.store

DAY = NOW.date()
KEY, SLUG = f"digest:{DAY}", f"digest-{DAY}"
PAGE = f"/admin/plan/{SLUG}"


@pytest.fixture(autouse=True)
def quick_hashes(monkeypatch):
    monkeypatch.setattr(admin_ops, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def client_for(settings, engine):
    return TestClient(create_app(settings, engine, mailer=RecordingMailer(), clock=Clock(NOW)), base_url=BASE,
                      follow_redirects=False)


@pytest.fixture
def client(settings, engine):
    seed(engine, NOW, subscribers=3)
    with client_for(settings, engine) as test_client:
        yield test_client


def as_role(settings, engine, client, role):
    add(settings, engine, f"{role}@example.com", role=role)
    assert login(client, f"{role}@example.com").status_code == 303
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/admin/").text).group(1)


def post(client, csrf, **fields):
    return client.post(f"{PAGE}/change", data={"csrf": csrf, **fields})


def test_the_next_editions_are_listed_with_their_state(settings, engine, client):
    as_role(settings, engine, client, "viewer")
    page = client.get("/admin/plan")
    assert page.status_code == 200 and f'href="/digest{PAGE}"' in page.text
    listed = client.get("/admin/plan.json").json()
    assert listed[0]["key"] == KEY and listed[0]["state"] == "open" and len(listed) >= 7


def test_an_editor_pins_excludes_and_writes_a_note_and_the_preview_shows_it(settings, engine, client):
    csrf = as_role(settings, engine, client, "editor")
    doc = client.get(f"{PAGE}.json").json()
    first, fifth = doc["candidates"][0], doc["candidates"][4]
    pinned = post(client, csrf, action="pin", article=str(fifth["articles"][0]["id"]), section="top")
    assert pinned.status_code == 303 and "pin+recorded" in pinned.headers["location"]
    assert post(client, csrf, action="exclude", story=first["story_key"]).status_code == 303
    assert post(client, csrf, action="note", text="**Polls close at 8.**").status_code == 303
    after = client.get(f"{PAGE}.json").json()
    assert after["candidates"][0]["pinned"] == "top" and after["candidates"][0]["story_key"] == fifth["story_key"]
    assert first["story_key"] not in [c["story_key"] for c in after["candidates"]]
    assert [(line["actor"], line["action"]) for line in after["log"]] == [
        ("editor@example.com", "pin"), ("editor@example.com", "exclude"), ("editor@example.com", "note")]
    framed = client.get(f"{PAGE}/preview.html")
    assert framed.status_code == 200
    assert "sandbox" in framed.headers["content-security-policy"] and "script-src" not in framed.headers[
        "content-security-policy"] and "frame-ancestors 'self'" in framed.headers["content-security-policy"]
    assert "<strong>Polls close at 8.</strong>" in framed.text
    titles = re.findall(r'class="item-title"[^>]*><a [^>]*>([^<]+)</a>', framed.text)
    assert titles[0] == fifth["articles"][0]["title"] and first["articles"][0]["title"] not in titles
    page = client.get(PAGE)
    assert '<iframe class="preview" title="Preview of the email" sandbox src=' in page.text


def test_a_bad_change_says_why_on_the_page_and_changes_nothing(settings, engine, client):
    csrf = as_role(settings, engine, client, "editor")
    done = post(client, csrf, action="pin", article="99999")
    assert done.status_code == 303 and "not+done" in done.headers["location"]
    assert "not done: --article: no article 99999" in client.get(done.headers["location"].removeprefix("/digest")).text
    assert client.get(f"{PAGE}.json").json()["log"] == []
    assert client.post(f"{PAGE}/change", data={"action": "approve"}).status_code == 403  # no CSRF token


def test_a_viewer_looks_but_cannot_steer(settings, engine, client):
    csrf = as_role(settings, engine, client, "viewer")
    assert client.get(PAGE).status_code == 200
    assert "Pin to Top" not in client.get(PAGE).text
    assert post(client, csrf, action="approve").status_code == 403
    assert client.get(f"{PAGE}.json").json()["log"] == []


def test_approving_in_the_console_releases_the_held_edition(smtp_settings, smtpd, engine):
    gated = replace(smtp_settings, send=replace(smtp_settings.send, approval="required"))
    seed(engine, NOW, subscribers=2)
    assert send_day(engine, gated)[0].held == "awaiting_approval"
    with client_for(gated, engine) as client:
        csrf = as_role(gated, engine, client, "editor")
        assert client.get(f"{PAGE}.json").json()["state"] == "awaiting_approval"
        assert post(client, csrf, action="approve").status_code == 303
        assert client.get(f"{PAGE}.json").json()["state"] == "approved"
    assert send_day(engine, gated)[0].counts == {"sent": 2}
    status = digest(gated, "editions", "show", "--date", str(DAY))
    assert "state done" in status.output and "editor@example.com  approve" in status.output


def test_a_planned_edition_is_shown_as_fixed(settings, engine, smtp_settings, smtpd, client):
    send_day(engine, smtp_settings)
    csrf = as_role(settings, engine, client, "editor")
    page = client.get(PAGE).text
    assert "its readers' digests are fixed" in page and "Pin to Top" not in page
    refused = post(client, csrf, action="pin", article="1")
    assert "already+planned" in refused.headers["location"]
    assert ops.show(settings, ops.edition_of(settings, DAY), engine=engine).log == ()


def test_the_preview_disables_the_readers_links_and_a_named_reader_is_for_admins(settings, engine, client):
    as_role(settings, engine, client, "editor")
    framed = client.get(f"{PAGE}/preview.html")
    assert framed.status_code == 200 and "/u/" in framed.text  # the unsubscribe URL is there, as text
    assert not re.findall(r'href="[^"]*/(u|p|c|archive)/', framed.text)  # but no link follows it
    assert client.get(f"{PAGE}/preview.html?email=reader1@example.com").status_code == 403
    client.post("/admin/logout", data={"csrf": re.search(r'name="csrf" value="([^"]+)"',
                                                         client.get("/admin/").text).group(1)})
    as_role(settings, engine, client, "admin")
    named = client.get(f"{PAGE}/preview.html?email=reader1@example.com")
    assert named.status_code == 200 and named.text != framed.text  # their own signed links, as text
