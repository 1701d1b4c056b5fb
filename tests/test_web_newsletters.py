"""The reader's side of several newsletters, over HTTP (Starlette's TestClient) on both stores: one-click leaves
only the newsletter its token names (an old token without one leaves the first), and the next send plans the
others only; the preference centre lists every newsletter with join, leave, leave all and per-subscription
choices; "manage my subscriptions" answers the same for a known and an unknown address and mails only the known
one, within its rate limits; a sign-up subscribes to the newsletters it ticks."""

from __future__ import annotations

import re
from dataclasses import replace
from email import message_from_bytes, policy

import pytest
from starlette.testclient import TestClient

from digest import store, urls
from digest.config.newsletters import Newsletter
from digest.send import RecordingMailer
from digest.web import create_app
from tests.conftest import NOW
from tests.factories import article, send_day, subscriber

pytestmark = pytest.mark.store
BASE = "https://news.example.com/digest"
MORNING = Newsletter(key="morning", name="Morning Briefing", list_id="morning.news.example.com",
                     from_name="Morning Briefing", from_address="morning@news.example.com",
                     description="The news of the day before breakfast.")
TECH = Newsletter(key="tech", name="Tech Friday", list_id="tech.news.example.com", from_name="Tech Friday",
                  from_address="tech@news.example.com", schedule="weekly:fri", topics=("technology", "science"),
                  description="Science and technology, once a week.")
EMAILS = ("reader1@example.com", "reader2@example.com")


@pytest.fixture
def letters(settings):
    """Settings with two newsletters; sign-up and manage limits high enough not to be what a test measures."""
    web = replace(settings.web, signup_limit_ip="100000/hour", signup_limit_address="100000/day")
    return replace(settings, configured_newsletters=(MORNING, TECH), web=web)


@pytest.fixture
def readers(engine):
    """Two readers subscribed to both newsletters, and articles of every topic. Their ids."""
    with store.session_scope(engine) as session:
        store.articles.upsert_articles(session, articles=[article(i, NOW.replace(hour=1 + i % 5)) for i in range(1, 16)],
                                       now=NOW)
        store.subscribers.upsert_subscribers(session, subscribers=[subscriber(e, name="Reader") for e in EMAILS],
                                             now=NOW, newsletters=("morning", "tech"))
        return [store.subscribers.find_subscriber(session, email=e).id for e in EMAILS]


@pytest.fixture
def mailer():
    return RecordingMailer()


def client_for(settings, engine, mailer) -> TestClient:
    return TestClient(create_app(settings, engine, mailer=mailer, clock=lambda: NOW), base_url=BASE,
                      follow_redirects=False)


@pytest.fixture
def client(letters, engine, mailer):
    with client_for(letters, engine, mailer) as test_client:
        yield test_client


def statuses(engine, email: str = EMAILS[0]) -> tuple[str, dict[str, str]]:
    """(the person's status, {newsletter: subscription status})."""
    with store.read_session(engine) as session:
        sub = store.subscribers.find_subscriber(session, email=email)
        rows = store.subscriptions.subscriptions_of(session, subscriber_ids=[sub.id])[sub.id]
        return str(sub.status), {r.newsletter: str(r.status) for r in rows}


def path_of(url: str) -> str:
    assert url.startswith(BASE)
    return url[len(BASE):]


def ident(engine, subscriber_id: int) -> str:
    with store.read_session(engine) as session:
        return store.subscribers.subscriber_token_key(session, subscriber_id=subscriber_id)


def one_click(settings, engine, subscriber_id: int, newsletter: str) -> str:
    return path_of(urls.unsubscribe_url(settings, subscriber_id, ident(engine, subscriber_id), newsletter=newsletter))


def centre(client, settings, engine, subscriber_id: int):
    path = path_of(urls.preferences_url(settings, subscriber_id, ident(engine, subscriber_id)))
    page = client.get(path)
    return path, page, re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


# ── one-click leaves one newsletter ─────────────────────────────────────────────────────────────────

def test_one_click_leaves_that_newsletter_and_the_next_send_plans_the_other(engine, letters, readers, client,
                                                                             smtpd):
    path = one_click(letters, engine, readers[0], "morning")
    assert client.get(path).status_code == 200 and statuses(engine)[1]["morning"] == "active"  # GET: nothing
    for _ in range(2):  # idempotent
        done = client.post(path, content=b"List-Unsubscribe=One-Click",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert done.status_code == 200 and "Morning Briefing" in done.text and "Tech Friday" not in done.text
    assert statuses(engine) == ("active", {"morning": "unsubscribed", "tech": "active"})
    assert statuses(engine, EMAILS[1]) == ("active", {"morning": "active", "tech": "active"})
    assert ">Resubscribe</button>" in done.text and 'name="newsletter" value="morning"' in done.text
    assert re.search(r'href="\.\./p/[^"]+"', done.text)  # the preference centre
    sending = replace(letters, smtp=replace(letters.smtp, port=smtpd.port, connections=2))
    send_day(engine, sending)
    received = {(m.rcpt_tos[0], message_from_bytes(m.data, policy=policy.default)["List-Id"].split("<")[1][:-1])
                for m in smtpd.handler.messages}
    assert received == {(EMAILS[0], TECH.list_id), (EMAILS[1], TECH.list_id), (EMAILS[1], MORNING.list_id)}


def test_an_old_token_without_a_newsletter_leaves_the_first(engine, letters, readers, client):
    page = client.get(one_click(letters, engine, readers[0], ""))
    assert "Morning Briefing" in page.text and ">Unsubscribe</button>" in page.text
    assert client.post(one_click(letters, engine, readers[0], "")).status_code == 200
    assert statuses(engine) == ("active", {"morning": "unsubscribed", "tech": "active"})


def test_a_removed_newsletters_token_still_leaves_that_subscription(engine, letters, readers, client):
    with store.session_scope(engine) as session:
        store.subscriptions.subscribe(session, subscriber_ids=[readers[0]], newsletters=["gone"], now=NOW)
    assert client.post(one_click(letters, engine, readers[0], "gone")).status_code == 200
    assert statuses(engine) == ("active", {"gone": "unsubscribed", "morning": "active", "tech": "active"})
    # no such subscription: nothing is written
    assert client.post(one_click(letters, engine, readers[1], "never")).status_code == 200
    assert "never" not in statuses(engine, EMAILS[1])[1]


def test_a_bounced_reader_stays_as_they_are(engine, letters, readers, client):
    with store.session_scope(engine) as session:
        store.subscribers.find_subscriber(session, email=EMAILS[0]).status = "bounced"
    page = client.post(one_click(letters, engine, readers[0], "tech"))
    assert page.status_code == 200 and "Resubscribe" not in page.text
    assert statuses(engine) == ("bounced", {"morning": "active", "tech": "active"})


# ── the preference centre ───────────────────────────────────────────────────────────────────────────

def test_the_preference_centre_lists_every_newsletter(engine, letters, readers, client):
    _, page, _ = centre(client, letters, engine, readers[0])
    assert page.status_code == 200
    for text in ("Morning Briefing", "The news of the day before breakfast.", "Every day.", "Tech Friday",
                 "Every Friday.", 'aria-label="Leave Morning Briefing"', 'aria-label="Leave Tech Friday"',
                 "Unsubscribe from everything"):
        assert text in page.text, text
    tech = page.text.split('id="newsletter-tech"')[1].split("</li>")[0]
    assert 'value="technology"' in tech and 'value="politics"' not in tech  # the newsletter's scope
    assert 'name="frequency"' not in tech  # a weekly newsletter has one rhythm
    assert 'name="frequency"' in page.text.split('id="newsletter-morning"')[1].split("</li>")[0]


def test_leave_and_join_one_newsletter(engine, letters, readers, client):
    path, _, csrf = centre(client, letters, engine, readers[0])
    left = client.post(path, data={"csrf": csrf, "action": "leave", "newsletter": "tech"})
    assert left.status_code == 200 and "You have left Tech Friday" in left.text
    assert 'aria-label="Join Tech Friday"' in left.text
    assert statuses(engine) == ("active", {"morning": "active", "tech": "unsubscribed"})
    joined = client.post(path, data={"csrf": csrf, "action": "join", "newsletter": "tech"})
    assert "subscribed again to Tech Friday" in joined.text
    assert statuses(engine) == ("active", {"morning": "active", "tech": "active"})
    unknown = client.post(path, data={"csrf": csrf, "action": "join", "newsletter": "nope"})
    assert unknown.status_code == 400 and "nope" not in statuses(engine)[1]
    other_csrf = centre(client, letters, engine, readers[1])[2]
    assert client.post(path, data={"csrf": other_csrf, "action": "leave", "newsletter": "tech"}).status_code == 403
    assert statuses(engine)[1]["tech"] == "active"


def test_leave_all_then_rejoin_one(engine, letters, readers, client):
    path, _, csrf = centre(client, letters, engine, readers[0])
    page = client.post(path, data={"csrf": csrf, "action": "leave-all"})
    assert page.status_code == 200 and "You have left every newsletter" in page.text
    assert statuses(engine) == ("unsubscribed", {"morning": "unsubscribed", "tech": "unsubscribed"})
    with store.session_scope(engine) as session:  # an import keeps them suppressed
        counts = store.subscribers.upsert_subscribers(session, subscribers=[subscriber(EMAILS[0])], now=NOW,
                                                      newsletters=("morning",))
    assert counts["suppressed"] == 1
    client.post(path, data={"csrf": csrf, "action": "join", "newsletter": "morning"})
    assert statuses(engine) == ("active", {"morning": "active", "tech": "unsubscribed"})
    assert statuses(engine, EMAILS[1]) == ("active", {"morning": "active", "tech": "active"})


def subscription(engine, subscriber_id: int, key: str):
    with store.read_session(engine) as session:
        return store.subscriptions.find_subscription(session, subscriber_id=subscriber_id, newsletter=key)


def test_per_newsletter_choices_within_its_scope(engine, letters, readers, client):
    path, _, csrf = centre(client, letters, engine, readers[0])
    saved = client.post(path, data={"csrf": csrf, "action": "newsletter", "newsletter": "morning",
                                    "frequency": "weekly", "weekday": "mon", "topics": ["science"],
                                    "format": "text"})
    assert saved.status_code == 200 and "Your preferences are saved" in saved.text
    row = subscription(engine, readers[0], "morning")
    assert (row.frequency, row.weekday, row.topics, row.format) == ("weekly", "mon", ["science"], "text")
    client.post(path, data={"csrf": csrf, "action": "newsletter", "newsletter": "tech", "frequency": "daily",
                            "topics": ["politics", "technology"], "format": ""})
    row = subscription(engine, readers[0], "tech")
    assert (row.frequency, row.topics, row.format) == (None, ["technology"], None)  # scope and rhythm kept
    bad = client.post(path, data={"csrf": csrf, "action": "newsletter", "newsletter": "morning",
                                  "format": "pdf"})
    assert bad.status_code == 400 and "format: expected html or text" in bad.text
    assert subscription(engine, readers[0], "morning").format == "text"
    with store.read_session(engine) as session:  # the reader's own values are not touched
        own = store.subscribers.subscriber_by_id(session, subscriber_id=readers[0])
    assert (own.frequency, own.topics, own.format) == ("daily", [], "html")


def test_the_preference_centre_and_one_click_page_of_a_german_newsletter_are_in_german(engine, letters, readers,
                                                                                        mailer):
    german = replace(letters, configured_newsletters=(replace(MORNING, language="de"), TECH))
    with client_for(german, engine, mailer) as client:
        _, page, _ = centre(client, german, engine, readers[0])  # the first newsletter's language
        for text in ('lang="de"', "<h2>Ihre Newsletter</h2>", "Jeden Tag.", "Jeden Freitag.",
                     'aria-label="Tech Friday abbestellen"', "Alle Newsletter abbestellen"):
            assert text in page.text, text
        assert "Your newsletters" not in page.text and "Every Friday." not in page.text
        leaving = client.get(one_click(german, engine, readers[0], "morning"))
        assert 'lang="de"' in leaving.text and "Alle Ihre Newsletter verwalten" in leaving.text
        left = client.post(one_click(german, engine, readers[0], "morning"))
        assert 'lang="de"' in left.text and "Ihre anderen Newsletter bleiben unverändert." in left.text
        english = client.get(one_click(german, engine, readers[0], "tech"))  # the newsletter left speaks
        assert 'lang="en"' in english.text and "Manage all your newsletters" in english.text


# ── manage my subscriptions ─────────────────────────────────────────────────────────────────────────

def ask_for_link(client, email: str):
    page = client.get("/manage")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return client.post("/manage", data={"csrf": csrf, "email": email})


def test_manage_answers_the_same_and_mails_only_a_known_address(engine, letters, readers, client, mailer):
    known = ask_for_link(client, "Reader1@Example.com")
    unknown = ask_for_link(client, "nobody@example.org")
    assert (known.status_code, known.text) == (unknown.status_code, unknown.text) == (200, unknown.text)
    assert "Check your inbox" in known.text
    [message] = mailer.messages
    email = message_from_bytes(message.data, policy=policy.default)
    assert message.recipient == EMAILS[0] and email["Subject"] == "Manage your subscriptions"
    assert "morning@news.example.com" in email["From"] and email.get_body(("html",)) is None
    link = re.search(r"https://news\.example\.com/digest(/p/\S+)", email.get_body(("plain",)).get_content()).group(1)
    assert "Morning Briefing" in client.get(link).text and client.get(link).status_code == 200


def test_manage_is_not_offered_to_a_removed_reader_and_needs_the_form_token(engine, letters, readers, client,
                                                                           mailer):
    with store.session_scope(engine) as session:
        store.subscribers.delete_subscriber(session, email=EMAILS[0], now=NOW)
    assert ask_for_link(client, EMAILS[0]).status_code == 200
    assert client.post("/manage", data={"csrf": "x", "email": EMAILS[1]}).status_code == 403
    assert mailer.messages == []


@pytest.mark.parametrize("limit", [{"signup_limit_address": "1/day"}, {"signup_limit_ip": "1/hour"}])
def test_over_the_limit_the_same_answer_and_no_email(engine, letters, readers, mailer, limit):
    limited = replace(letters, web=replace(letters.web, **limit))
    with client_for(limited, engine, mailer) as c:
        first, second = ask_for_link(c, EMAILS[0]), ask_for_link(c, EMAILS[0])
    assert (first.status_code, first.text) == (second.status_code, second.text)
    assert [m.recipient for m in mailer.messages] == [EMAILS[0]]


# ── sign-up chooses newsletters ─────────────────────────────────────────────────────────────────────

def sign_up(client, **data):
    page = client.get("/subscribe")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return page, client.post("/subscribe", data={"csrf": csrf, **data})


def test_sign_up_with_two_newsletters_gives_two_subscriptions(engine, letters, client, mailer):
    page, answer = sign_up(client, email="new@example.org", newsletters=["morning", "tech"])
    assert re.search(r'value="morning" checked', page.text) and re.search(r'value="tech">', page.text)
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert statuses(engine, "new@example.org") == ("pending", {"morning": "active", "tech": "active"})
    with store.read_session(engine) as session:
        sub = store.subscribers.find_subscriber(session, email="new@example.org")
        assert {r.source for r in store.subscriptions.subscriptions_of(session, subscriber_ids=[sub.id])[sub.id]} == {
            "web:/subscribe"}
    email = message_from_bytes(mailer.messages[0].data, policy=policy.default)
    names = [n.name for n in letters.newsletters]
    assert email["Subject"] == f"Confirm your subscription to {names[0]} and {names[1]}"  # both it is about
    assert email["From"].addresses[0].addr_spec == letters.newsletters[0].from_address  # from the first
    confirm = re.search(r"https://news\.example\.com/digest(/confirm/\S+)",
                        email.get_body(("plain",)).get_content()).group(1)
    assert client.post(confirm).status_code == 200
    assert statuses(engine, "new@example.org") == ("active", {"morning": "active", "tech": "active"})


def test_a_sign_up_naming_no_newsletter_is_a_form_error(engine, letters, client, mailer):
    _, answer = sign_up(client, email="new@example.org", newsletters=["unknown"])
    assert answer.status_code == 400 and "choose at least one newsletter" in answer.text
    _, answer = sign_up(client, email="new@example.org")
    assert answer.status_code == 400 and 'role="alert"' in answer.text
    with store.read_session(engine) as session:
        assert store.subscribers.find_subscriber(session, email="new@example.org") is None
    assert mailer.messages == []


def test_the_manage_answer_and_its_time_do_not_tell_who_is_subscribed(engine, letters, readers, smtpd):
    """Through uvicorn with the app's own SMTP mailer and a real server, interleaved: a known address (looked up,
    mailed after its answer) and unknown ones. Identical bodies; the paired median gap within 3 ms or 40 % of the
    faster median, as for the sign-up (tests/test_web_signup.py)."""
    import statistics
    from urllib.parse import urlencode

    from tests.served import Served
    from tests.test_web_signup import ROUNDS, RawHttp, _quiet

    settings = replace(letters, smtp=replace(letters.smtp, port=smtpd.port, connections=2))
    times: dict[str, list[float]] = {"known": [], "unknown": []}
    bodies, mailed = set(), 0
    with Served(create_app(settings, engine, clock=lambda: NOW)) as server:
        http = RawHttp(server.url)
        try:
            _, _, head, page = http.request("GET", "/digest/manage")
            csrf = re.search(rb'name="csrf" value="([^"]+)"', page).group(1).decode()
            form = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": head["set-cookie"].split(";")[0]}
            for n in range(ROUNDS + 2):
                for kind in (("known", "unknown") if n % 2 else ("unknown", "known")):
                    email = EMAILS[0] if kind == "known" else f"stranger{n}@example.org"
                    elapsed, status, _, content = http.request(
                        "POST", "/digest/manage", urlencode({"csrf": csrf, "email": email}).encode(), form)
                    assert status == 200
                    bodies.add(content)
                    if n >= 2:
                        times[kind].append(elapsed)
                    mailed += kind == "known"
                    _quiet(smtpd, mailed)
        finally:
            http.close()
    assert len(bodies) == 1
    assert {m.rcpt_tos[0] for m in smtpd.handler.messages} == {EMAILS[0]}
    assert len(smtpd.handler.messages) == ROUNDS + 2
    known, unknown = statistics.median(times["known"]), statistics.median(times["unknown"])
    gap = statistics.median(k - u for k, u in zip(times["known"], times["unknown"]))
    print(f"manage answer, median of {ROUNDS}: known {known * 1000:.2f} ms, unknown {unknown * 1000:.2f} ms, "
          f"paired gap {gap * 1000:+.2f} ms")
    assert abs(gap) <= max(0.003, 0.4 * min(known, unknown)), f"known {known * 1000:.2f}, unknown {unknown * 1000:.2f}"
