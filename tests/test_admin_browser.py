"""The console in a real browser: Playwright driving Debian's Chromium, JavaScript off, against the app
`digest serve` runs (uvicorn on a free loopback port): log in, see the overview, log out; an editor steers the
next edition (pin, note, approve), sees it go out, and looks a reader up."""

from __future__ import annotations

import asyncio
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from argon2 import PasswordHasher

from digest.operations import admin as ops
from digest.pipeline import run_day
from digest.send import RecordingMailer
from digest.web import create_app
from tests.conftest import NOW
from tests.factories import seed
from tests.served import Served

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery staple"
playwright_api = pytest.importorskip("playwright.sync_api",
                                     reason="playwright is not installed (pip install -e '.[test]')")
pytestmark = [pytest.mark.store,
              pytest.mark.skipif(shutil.which(CHROMIUM) is None,
                                 reason=f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")]


@pytest.fixture
def served(engine, settings, monkeypatch):
    monkeypatch.setattr(ops, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    plain = replace(settings, sender=replace(settings.sender, base_url="http://127.0.0.1/digest"))  # no TLS here
    seed(engine, NOW, subscribers=3)
    asyncio.run(run_day(engine, plain, RecordingMailer(), NOW.date(), clock=lambda: NOW))
    ops.add_user(plain, "ops@example.com", role="viewer", password=PASSWORD, now=NOW, engine=engine)
    with Served(create_app(plain, engine, mailer=RecordingMailer(), clock=lambda: NOW)) as server:
        yield server


@pytest.fixture
def page(served):  # after the store is seeded: sync Playwright runs an event loop in this thread
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        context = browser.new_context(java_script_enabled=False)
        yield context.new_page()
        context.close()
        browser.close()


def test_log_in_see_the_overview_and_log_out(page, served):
    page.goto(served.url + "/digest/admin/")
    assert page.url.endswith("/digest/admin/login")  # anonymous: sent to the login page
    page.get_by_label("Email address").fill("ops@example.com")
    page.get_by_label("Password").fill("not the password at all")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").inner_text() == "Wrong email or password."
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Overview").wait_for()
    assert page.url.endswith("/digest/admin/")
    row = page.get_by_role("row", name=f"digest:{NOW.date()}")
    assert "done" in row.inner_text() and "3" in row.inner_text().split()
    assert page.get_by_role("link", name="Accounts").count() == 0  # a viewer manages no accounts
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("heading", name="Log in").wait_for()
    page.goto(served.url + "/digest/admin/")
    assert page.url.endswith("/digest/admin/login")


@pytest.fixture
def editor_served(engine, settings, monkeypatch):
    """An edition not planned yet, with approval required; an editor's account."""
    monkeypatch.setattr(ops, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    gated = replace(settings, sender=replace(settings.sender, base_url="http://127.0.0.1/digest"),
                    send=replace(settings.send, approval="required"))
    seed(engine, NOW, subscribers=3)
    ops.add_user(gated, "editor@example.com", role="editor", password=PASSWORD, now=NOW, engine=engine)
    with Served(create_app(gated, engine, mailer=RecordingMailer(), clock=lambda: NOW)) as server:
        server.settings = gated
        yield server


@pytest.fixture
def editor_page(editor_served):
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 900})
        yield context.new_page()
        context.close()
        browser.close()


def test_an_editor_runs_the_day_from_the_console(editor_page, editor_served, engine):
    """Log in, open the next edition, pin a story and see it first in the preview, write a note, approve; the
    edition goes out with them; then look one reader up and find their delivery. At 390 px, without script."""
    page, base = editor_page, editor_served.url + "/digest/admin"
    page.goto(base + "/")
    page.get_by_label("Email address").fill("editor@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Next editions").click()
    page.get_by_role("link", name=f"digest:{NOW.date()}").click()
    assert page.locator("#state").inner_text() == "awaiting_approval"
    fifth = page.locator("tbody tr").nth(4).get_by_role("link").first.inner_text()
    page.get_by_role("button", name=f"Pin {fifth} first in Top").click()
    assert page.get_by_role("status").inner_text() == "pin recorded"
    framed = page.frame_locator("iframe.preview")
    assert framed.locator(".item-title").first.inner_text() == fifth
    page.get_by_label("Note (Markdown", exact=False).fill("**Polls close at 8.**")
    page.get_by_role("button", name="Save the note").click()
    assert page.locator(".note-preview strong").inner_text() == "Polls close at 8."
    assert framed.locator(".note strong").inner_text() == "Polls close at 8."
    page.get_by_role("button", name="Approve this edition").click()
    assert page.locator("#state").inner_text() == "approved"
    with ThreadPoolExecutor(1) as pool:  # sync Playwright runs an event loop in this thread: send from another
        sent = pool.submit(asyncio.run, run_day(engine, editor_served.settings, RecordingMailer(), NOW.date(),
                                                clock=lambda: NOW)).result()
    assert sent[0].counts == {"sent": 3}
    page.reload()
    assert page.locator("#state").inner_text() == "done"
    page.get_by_role("link", name="Readers").click()
    page.get_by_label("Address starts with").fill("READER2")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="reader2@example.com").click()
    assert page.get_by_role("heading", name=f"digest:{NOW.date()}: sent").count() == 1
