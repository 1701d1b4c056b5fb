"""The overview's charts, live progress and the preview in a real browser (Playwright, Debian's Chromium, with
JavaScript on) against the app `digest serve` runs: the vendored uPlot draws under the console's CSP (no
violation reported), the table's figures follow the store while an edition is sending without a reload, and
a reader's email shows in its sandboxed frame."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import replace

import pytest
from argon2 import PasswordHasher
from sqlalchemy import update
from sqlmodel import select

from digest import store
from digest.models import Delivery, DeliveryStatus
from digest.operations import admin as ops
from digest.pipeline import run_day
from digest.send import RecordingMailer
from digest.web import create_app
from tests.conftest import NOW
from tests.factories import seed
from tests.served import Served

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery staple"
KEY = f"digest:{NOW.date()}"
playwright_api = pytest.importorskip("playwright.sync_api",
                                     reason="playwright is not installed (pip install -e '.[test]')")
pytestmark = [pytest.mark.store,
              pytest.mark.skipif(shutil.which(CHROMIUM) is None,
                                 reason=f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")]


@pytest.fixture
def served(engine, settings, monkeypatch):
    """Four readers, one sent: the edition is `sending` with three queued."""
    monkeypatch.setattr(ops, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    plain = replace(settings, sender=replace(settings.sender, base_url="http://127.0.0.1/digest"))  # no TLS here
    seed(engine, NOW, subscribers=4)
    asyncio.run(run_day(engine, plain, RecordingMailer(), NOW.date(), clock=lambda: NOW, limit=1))
    ops.add_user(plain, "ops@example.com", role="admin", password=PASSWORD, now=NOW, engine=engine)
    with Served(create_app(plain, engine, mailer=RecordingMailer(), clock=lambda: NOW)) as server:
        yield server


@pytest.fixture
def browser_page(served):
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 390, "height": 844})
        page = context.new_page()
        page.problems = []
        page.on("console", lambda m: page.problems.append(m.text) if m.type in ("error", "warning")
                and not m.text.startswith("Failed to load resource") else None)  # those: below, with their URL
        page.on("response", lambda r: page.problems.append(f"{r.status} {r.url}") if r.status >= 400
                and not r.url.endswith("/favicon.ico") else None)
        page.on("pageerror", lambda e: page.problems.append(str(e)))
        yield page
        context.close()
        browser.close()


def log_in(page, served) -> None:
    page.goto(served.url + "/digest/admin/login")
    page.get_by_label("Email address").fill("ops@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Overview").wait_for()


def test_the_charts_draw_and_the_progress_follows_the_store_without_a_reload(browser_page, served, engine):
    page = browser_page
    log_in(page, served)
    page.locator('[data-chart="editions"] canvas').first.wait_for(timeout=10000)
    page.locator('[data-chart="list"] canvas').first.wait_for(timeout=10000)
    sent = page.locator(f'tr[data-edition="{KEY}"] [data-status="sent"]')
    assert sent.inner_text() == "1"
    with store.session_scope(engine) as session:
        ids = session.exec(select(Delivery.id).where(Delivery.status == DeliveryStatus.queued)).all()
        session.connection().execute(update(Delivery).where(Delivery.id.in_(ids[:2]))
                                     .values(status=DeliveryStatus.sent, sent_at=NOW))
    playwright_api.expect(sent).to_have_text("3", timeout=15000)  # no reload: console.js polled overview.json
    assert "refresh every few seconds" in page.locator("#live").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 400  # usable at 390 px
    page.get_by_role("link", name=KEY).click()  # the edition's page follows it too
    sent = page.locator('[data-edition] td[data-status="sent"]')
    assert sent.inner_text() == "3"
    with store.session_scope(engine) as session:
        session.connection().execute(update(Delivery).where(Delivery.id == ids[2])
                                     .values(status=DeliveryStatus.sent, sent_at=NOW))
    playwright_api.expect(sent).to_have_text("4", timeout=15000)
    assert page.problems == []  # no CSP violation, no script error


def test_a_readers_email_shows_in_its_sandboxed_frame(browser_page, served):
    page = browser_page
    log_in(page, served)
    page.get_by_role("link", name=KEY).click()
    page.get_by_label("Reader's address").fill("reader1@example.com")
    page.get_by_role("button", name="Show their email as built for them").click()
    frame = page.frame_locator("iframe.preview")
    frame.locator("body").wait_for()
    assert frame.locator("a[href]").count() == 0 and frame.locator("a[title]").count() > 0
    assert page.problems == []
