"""The unsubscribe and preference pages in a real browser: Playwright driving Debian's Chromium, with JavaScript
off, against the app `digest serve` runs, served by uvicorn on a free loopback port."""

from __future__ import annotations

import re
import shutil
from datetime import date
from urllib.parse import urlsplit

import pytest

from digest import store
from digest.send import RecordingMailer
from digest.tokens import make_token
from digest.web import create_app
from tests.conftest import NOW
from tests.factories import seed
from tests.served import Served

CHROMIUM = "/usr/bin/chromium"
playwright_api = pytest.importorskip("playwright.sync_api",
                                     reason="playwright is not installed (pip install -e '.[test]')")
pytestmark = [pytest.mark.store,
              pytest.mark.skipif(shutil.which(CHROMIUM) is None,
                                 reason=f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")]


@pytest.fixture
def served(engine, settings):
    seed(engine, NOW, subscribers=2)  # articles (the topics and countries on offer) and two readers
    with Served(create_app(settings, engine, mailer=RecordingMailer(), clock=lambda: NOW)) as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(java_script_enabled=False)  # the pages work without it
    yield context.new_page()
    context.close()


def link(settings, engine, purpose: str, email: str = "reader1@example.com") -> str:
    with store.read_session(engine) as session:
        sub = store.subscribers.find_subscriber(session, email=email)
    prefix = urlsplit(settings.sender.base_url).path.rstrip("/")  # the app answers where the emails' links point
    return f"{prefix}/{purpose[0]}/{make_token(settings.secret_key, purpose, sub.id, settings.sender.list_id, ident=sub.token_key)}"


def reader(engine, email: str = "reader1@example.com"):
    with store.read_session(engine) as session:
        return store.subscribers.find_subscriber(session, email=email)


def test_change_preferences_through_the_form(page, served, settings, engine):
    page.goto(served.url + link(settings, engine, "preferences"))
    assert page.get_by_role("heading", name="Your preferences").is_visible()
    unlabelled = page.locator("input:not([type=hidden]), select").evaluate_all(
        "els => els.filter(e => !e.labels || e.labels.length === 0).map(e => e.name)")
    assert unlabelled == []  # every control has a <label> (screen readers, click targets)
    page.get_by_label("Science").check()
    page.get_by_label("Sport").check()
    page.get_by_label("Japan").check()
    page.get_by_label("Once a week, on").check()
    page.get_by_label("Day of the week for the weekly digest").select_option("fri")
    page.get_by_label("Send at").fill("18:30")
    page.get_by_label("Time zone").select_option("Europe/Berlin")
    page.get_by_label("Plain text").check()
    page.get_by_label("Stories per email").fill("5")
    page.get_by_label("Pause until").fill("2026-12-24")
    page.get_by_role("button", name="Save preferences").focus()
    page.keyboard.press("Enter")  # keyboard only
    page.get_by_role("status").wait_for()
    assert "Your preferences are saved" in page.get_by_role("status").inner_text()
    sub = reader(engine)
    assert (sub.topics, sub.countries, sub.frequency, sub.weekday, sub.send_at, sub.timezone, sub.format,
            sub.max_items, sub.paused_until) == (["science", "sport"], ["Japan"], "weekly", "fri", "18:30",
                                                 "Europe/Berlin", "text", 5, date(2026, 12, 24))
    assert page.get_by_label("Science").is_checked() and page.get_by_label("Plain text").is_checked()
    assert reader(engine, "reader2@example.com").topics == []


def test_unsubscribe_through_the_button(page, served, settings, engine):
    url = served.url + link(settings, engine, "unsubscribe")
    page.goto(url)
    assert reader(engine).status == "active"  # opening the page changed nothing
    page.get_by_role("button", name="Unsubscribe").click()
    page.get_by_role("heading", name="You are unsubscribed").wait_for()
    assert page.url == url  # answered in place: no redirect
    assert subscription(engine) == "unsubscribed" and reader(engine).status == "active"  # that newsletter only
    assert subscription(engine, "reader2@example.com") == "active"


def subscription(engine, email: str = "reader1@example.com", newsletter: str = "digest") -> str:
    with store.read_session(engine) as session:
        row = store.subscriptions.find_subscription(session, subscriber_id=reader(engine, email).id,
                                                    newsletter=newsletter)
        return str(row.status)


def test_unsubscribe_from_everything_on_the_preference_page(page, served, settings, engine):
    page.goto(served.url + link(settings, engine, "preferences", "reader2@example.com"))
    page.get_by_role("button", name="Unsubscribe from everything").click()
    page.get_by_role("status").wait_for()
    assert "You have left every newsletter" in page.get_by_role("status").inner_text()
    assert re.search(r"/p/[^/]+$", page.url)
    assert reader(engine, "reader2@example.com").status == "unsubscribed"
    assert subscription(engine, "reader2@example.com") == "unsubscribed"


def test_the_preference_centre_fits_a_small_phone(browser, served, settings, engine):
    """390 CSS pixels wide (an iPhone 14): nothing sticks out sideways, the long time-zone list included."""
    context = browser.new_context(java_script_enabled=True, viewport={"width": 390, "height": 844})
    try:
        phone = context.new_page()
        phone.goto(served.url + link(settings, engine, "preferences"))
        widths = phone.evaluate("() => [document.documentElement.scrollWidth, document.body.scrollWidth,"
                                " Math.max(...[...document.querySelectorAll('fieldset, select')]"
                                ".map(e => e.getBoundingClientRect().right))]")
        assert max(widths) <= 390, widths
        assert phone.get_by_label("Time zone").is_visible()
    finally:
        context.close()


def test_an_unsubscribed_reader_resubscribes_from_the_preference_centre(page, served, settings, engine):
    page.goto(served.url + link(settings, engine, "unsubscribe"))
    page.get_by_role("button", name="Unsubscribe").click()
    page.get_by_role("heading", name="You are unsubscribed").wait_for()
    assert subscription(engine) == "unsubscribed"
    page.goto(served.url + link(settings, engine, "preferences"))
    page.get_by_role("button", name="Join The Daily Digest").click()
    page.get_by_role("status").wait_for()
    assert "subscribed again" in page.get_by_role("status").inner_text()
    assert reader(engine).status == "active" and subscription(engine) == "active"


def test_leave_one_of_two_newsletters_in_the_preference_centre(browser, engine, settings):
    from dataclasses import replace

    from digest.config.newsletters import Newsletter

    two = replace(settings, configured_newsletters=(
        Newsletter(key="morning", name="Morning Briefing", list_id="morning.news.example.com",
                   from_name="Morning Briefing", from_address="morning@news.example.com"),
        Newsletter(key="tech", name="Tech Friday", list_id="tech.news.example.com", from_name="Tech Friday",
                   from_address="tech@news.example.com", schedule="weekly:fri")))
    seed(engine, NOW, subscribers=1)
    with store.session_scope(engine) as session:
        store.subscriptions.subscribe(session, subscriber_ids=[reader(engine).id], newsletters=["morning", "tech"],
                                      now=NOW)
    context = browser.new_context(java_script_enabled=False)
    try:
        with Served(create_app(two, engine, mailer=RecordingMailer(), clock=lambda: NOW)) as server:
            page = context.new_page()
            page.goto(server.url + link(two, engine, "preferences"))
            page.get_by_role("button", name="Leave Tech Friday", exact=True).click()
            page.get_by_role("status").wait_for()
            assert "You have left Tech Friday" in page.get_by_role("status").inner_text()
            assert page.get_by_role("button", name="Join Tech Friday", exact=True).is_visible()
            assert page.get_by_role("button", name="Leave Morning Briefing", exact=True).is_visible()
    finally:
        context.close()
    assert (subscription(engine, newsletter="tech"), subscription(engine, newsletter="morning")) == (
        "unsubscribed", "active")
    assert reader(engine).status == "active"
