"""Sign-up cannot mail-bomb or leak: the form's CSRF token, rate limits per client IP and per address, at most one
confirmation per address per window (also under parallel requests), links that expire, no URL-like or marked-up
name echoed in the signed email, a queue row written before the send that the answer does not wait for, a body
cap, and the same answer in the same time whatever the address (measured through uvicorn with a real SMTP server).
"""

from __future__ import annotations

import asyncio
import re
import socket
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from email import message_from_bytes, policy

import httpx
import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from digest import store
from digest.models import Confirmation
from digest.operations.signup import send_confirmations
from digest.send import RecordingMailer, SmtpMailer
from digest.tokens import make_token
from digest.web import create_app
from tests.conftest import NOW
from tests.factories import seed
from tests.served import Served

pytestmark = pytest.mark.store
BASE = "https://news.example.com/digest"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self):
        return self.now


def limited(settings, **web):
    """Settings with these [web] sign-up keys (by default: limits high enough not to be what a test measures)."""
    keys = {"signup_limit_ip": "100000/hour", "signup_limit_address": "100000/day", **web}
    return replace(settings, web=replace(settings.web, **keys))


def client_for(settings, engine, mailer, clock=lambda: NOW, **kw) -> TestClient:
    return TestClient(create_app(settings, engine, mailer=mailer, clock=clock), base_url=BASE,
                      follow_redirects=False, **kw)


def form_token(client) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/subscribe").text).group(1)


def sign_up(client, **data):
    return client.post("/subscribe", data={"csrf": form_token(client), **data})


def confirmations(engine) -> list[Confirmation]:
    with store.read_session(engine) as session:
        return list(session.exec(select(Confirmation).order_by(Confirmation.id)))


def parsed(message):
    return message_from_bytes(message.data, policy=policy.default)


# ── CSRF ────────────────────────────────────────────────────────────────────────────────────────────

def test_a_sign_up_needs_the_forms_token_and_its_cookie(engine, settings):
    mailer = RecordingMailer()
    with client_for(limited(settings), engine, mailer) as client:
        good = form_token(client)
        nonce = client.cookies.get("digest_signup")
        assert nonce and good
        stale = make_token(settings.secret_key, "subscribe-form", 0, settings.sender.list_id,
                           f"{int(time.time()) - 3 * 86400}.{nonce}")
        foreign = make_token("another-key", "subscribe-form", 0, settings.sender.list_id, f"{int(time.time())}.{nonce}")
        for csrf in (None, "", "x.y", stale, foreign, good[:-2] + ("BB" if good.endswith("AA") else "AA")):
            data = {"email": "victim@example.org"} | ({"csrf": csrf} if csrf is not None else {})
            response = client.post("/subscribe", data=data)
            assert response.status_code == 403 and "expired" in response.text, csrf
    with client_for(limited(settings), engine, mailer) as other:  # a token without the cookie set with it
        assert other.post("/subscribe", data={"email": "victim@example.org", "csrf": good}).status_code == 403
    assert mailer.messages == [] and confirmations(engine) == []
    with store.read_session(engine) as session:
        assert store.subscribers.find_subscriber(session, email="victim@example.org") is None


def test_the_cookie_is_strict_and_stays_on_the_form(engine, settings):
    with client_for(settings, engine, RecordingMailer()) as client:
        cookie = client.get("/subscribe").headers["set-cookie"].lower()
    assert "samesite=strict" in cookie and "httponly" in cookie and "secure" in cookie
    assert "path=/digest/subscribe" in cookie


# ── mail-bombing ────────────────────────────────────────────────────────────────────────────────────

def test_one_confirmation_per_address_per_window(engine, settings):
    mailer, clock = RecordingMailer(), Clock()
    with client_for(limited(settings), engine, mailer, clock) as client:
        csrf = form_token(client)
        for n in range(200):
            email = "target@example.org" if n % 2 else "target@EXAMPLE.org"
            assert client.post("/subscribe", data={"csrf": csrf, "email": email}).status_code == 200
        assert [m.recipient for m in mailer.messages] == ["target@example.org"]
        clock.now = NOW + timedelta(hours=23)
        client.post("/subscribe", data={"csrf": csrf, "email": "target@example.org"})
        assert len(mailer.messages) == 1
        clock.now = NOW + timedelta(hours=24, minutes=1)  # the window has passed: one more
        client.post("/subscribe", data={"csrf": csrf, "email": "target@example.org"})
    assert len(mailer.messages) == 2
    assert [c.status for c in confirmations(engine)] == ["sent", "sent"]


def test_parallel_sign_ups_of_one_address_queue_one_confirmation(engine, settings):
    mailer = RecordingMailer()
    with Served(create_app(limited(settings), engine, mailer=mailer, clock=lambda: NOW)) as server:
        def one(_):
            with httpx.Client(base_url=server.url) as http:
                page = http.get("/digest/subscribe")
                csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
                return http.post("/digest/subscribe", data={"csrf": csrf, "email": "race@example.org"}).status_code
        with ThreadPoolExecutor(25) as pool:
            codes = list(pool.map(one, range(100)))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and [c.status for c in confirmations(engine)] != ["sent"]:
            time.sleep(0.05)
    assert codes == [200] * 100
    assert [c.status for c in confirmations(engine)] == ["sent"]
    assert [m.recipient for m in mailer.messages] == ["race@example.org"]


def test_sign_ups_per_client_ip_are_limited(engine, settings):
    mailer = RecordingMailer()
    with client_for(limited(settings, signup_limit_ip="10/hour"), engine, mailer) as client:
        csrf = form_token(client)
        codes = [client.post("/subscribe", data={"csrf": csrf, "email": f"n{i}@example.org"}).status_code
                 for i in range(12)]
    assert codes == [200] * 10 + [429] * 2
    assert len(mailer.messages) == 10 and len(confirmations(engine)) == 10


def test_sign_ups_per_address_are_limited_with_the_same_answer(engine, settings):
    mailer, clock = RecordingMailer(), Clock()
    with client_for(limited(settings, signup_limit_address="2/day", confirm_window_hours=0.0), engine, mailer,
                    clock) as client:
        csrf = form_token(client)
        answers = set()
        for n in range(5):
            clock.now = NOW + timedelta(minutes=n)
            response = client.post("/subscribe", data={"csrf": csrf, "email": "again@example.org"})
            answers.add((response.status_code, response.text))
    assert len(answers) == 1 and len(mailer.messages) == 2


def test_a_body_over_the_cap_is_refused_unread(engine, settings):
    mailer = RecordingMailer()
    with client_for(limited(settings), engine, mailer) as client:
        csrf = form_token(client)
        huge = client.post("/subscribe", data={"csrf": csrf, "email": "big@example.org", "name": "x" * 200_000})
        assert huge.status_code == 413 and huge.headers["referrer-policy"] == "no-referrer"
        streamed = client.post("/subscribe", content=iter([b"email=big%40example.org&name="] + [b"x" * 8192] * 20),
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert streamed.status_code == 413
    assert mailer.messages == [] and confirmations(engine) == []


# ── the confirmation email and its link ─────────────────────────────────────────────────────────────

@pytest.mark.parametrize("name", ["https://evil.example/claim-your-refund", "evil.example/claim", "www.evil.example",
                                  "Visit evil.com now", "<a href=x>Boss</a>", "Tom <script>", "pay@evil.example",
                                  "{{ 7*7 }}", "A" * 120])
def test_names_that_look_like_urls_or_carry_markup_are_not_rendered(engine, settings, name):
    mailer = RecordingMailer()
    with client_for(limited(settings), engine, mailer) as client:
        sign_up(client, email="named@example.org", name=name)
    [message] = mailer.messages
    email = parsed(message)
    text, html = email.get_body(("plain",)).get_content(), email.get_body(("html",)).get_content()
    for part in (text, html, str(email["To"])):
        for word in ("evil", "claim", "Boss", "<script", "&lt;script", "Tom", "7*7", "AAAA", "{{"):
            assert word not in part, (word, part[:200])
    assert "Hello," in text and str(email["To"]) == "named@example.org"


@pytest.mark.parametrize("name", ["ｅｖｉｌ．ｅｘａｍｐｌｅ", "evil。example", "evil｡example", "evil\u2024example",
                                  "пример.рф", "Claim at evil.онлайн", "Boss ＜b＞"])
def test_domains_in_other_scripts_or_fullwidth_forms_are_not_rendered(engine, settings, name):
    """Mail clients and browsers read a fullwidth or ideographic full stop as "." (IDNA), and .рф is a TLD."""
    mailer = RecordingMailer()
    with client_for(limited(settings), engine, mailer) as client:
        sign_up(client, email="wide@example.org", name=name)
    email = parsed(mailer.messages[0])
    assert "Hello," in email.get_body(("plain",)).get_content() and str(email["To"]) == "wide@example.org"


def test_a_plain_name_is_still_used(engine, settings):
    mailer = RecordingMailer()
    with client_for(limited(settings), engine, mailer) as client:
        sign_up(client, email="ana@example.org", name="Ana María O'Neill-Smith")
    email = parsed(mailer.messages[0])
    assert "Hi Ana," in email.get_body(("plain",)).get_content()


def test_a_confirmation_link_expires(engine, settings):
    mailer, clock = RecordingMailer(), Clock()
    with client_for(limited(settings), engine, mailer, clock) as client:
        sign_up(client, email="late@example.org")
        body = parsed(mailer.messages[0]).get_body(("plain",)).get_content()
        path = re.search(r"https://news\.example\.com/digest(/confirm/\S+)", body).group(1)
        assert "7 days" in body
        clock.now = NOW + timedelta(days=7, minutes=1)
        assert client.get(path).status_code == 410 and client.post(path).status_code == 410
        with store.read_session(engine) as session:
            sub = store.subscribers.find_subscriber(session, email="late@example.org")
        assert sub.status == "pending"
        undated = make_token(settings.secret_key, "confirm", sub.id, settings.sender.list_id,  # an old-style link
                             ident=sub.token_key)
        assert client.post(f"/confirm/{undated}").status_code == 410
        clock.now = NOW + timedelta(days=6, hours=23)
        assert client.post(path).status_code == 200
    with store.read_session(engine) as session:
        assert store.subscribers.find_subscriber(session, email="late@example.org").status == "active"


# ── the queue ───────────────────────────────────────────────────────────────────────────────────────

def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_row_is_queued_before_the_send_and_the_answer_does_not_depend_on_it(engine, smtp_settings, smtpd):
    down = limited(replace(smtp_settings, smtp=replace(smtp_settings.smtp, port=closed_port(), timeout=2)))
    mailer = SmtpMailer(down.smtp, local_hostname="news.example.com")
    with client_for(down, engine, mailer) as client:
        up = sign_up(client, email="queued@example.org")
        reference = sign_up(client, email="queued@example.org")
    assert up.status_code == 200 and up.text == reference.text and "Check your inbox" in up.text
    [row] = confirmations(engine)
    assert (row.status, row.attempts, row.sent_at) == ("queued", 1, None)  # tried, the relay was down: kept
    relay = SmtpMailer(smtp_settings.smtp, local_hostname="news.example.com")
    assert asyncio.run(_send_and_close(engine, smtp_settings, relay)) == {"sent": 1}
    [row] = confirmations(engine)
    assert row.status == "sent" and row.message_id and [m.rcpt_tos for m in smtpd.handler.messages] == [
        ["queued@example.org"]]
    assert asyncio.run(_send_and_close(engine, smtp_settings, relay)) == {}  # sent once, never again


async def _send_and_close(engine, settings, mailer):
    try:
        return await send_confirmations(engine, settings, mailer, clock=lambda: NOW)
    finally:
        await mailer.close()


def test_the_app_sends_what_was_left_queued_when_it_starts(engine, settings):
    with store.session_scope(engine) as session:
        sub = store.subscribers.add_pending_subscriber(session, subscriber=_pending("left@example.org"), source="web", now=NOW)
        store.confirmations.queue_confirmation(session, subscriber_id=sub.id, email=sub.email, now=NOW, window=timedelta(hours=24))
    mailer = RecordingMailer()
    with client_for(settings, engine, mailer):
        deadline = time.monotonic() + 20
        while not mailer.messages and time.monotonic() < deadline:
            time.sleep(0.05)
    assert [m.recipient for m in mailer.messages] == ["left@example.org"]
    assert [c.status for c in confirmations(engine)] == ["sent"]


def _pending(email: str):
    from digest.models import Subscriber

    return Subscriber(email=email, created_at=NOW, updated_at=NOW)


# ── the same answer in the same time ────────────────────────────────────────────────────────────────

ROUNDS = 60


class RawHttp:
    """HTTP/1.1 over one kept-alive socket, each request written whole (TCP_NODELAY): what is timed is the
    server, not the client's Nagle and delayed-ACK stalls (~40 ms when headers and body go out apart)."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def request(self, method: str, path: str, body: bytes = b"", headers: dict | None = None
                ) -> tuple[float, int, dict, bytes]:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}",
                 *(f"{k}: {v}" for k, v in (headers or {}).items())]
        started = time.perf_counter()
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        status, head, content = self._response()
        return time.perf_counter() - started, status, head, content

    def _response(self) -> tuple[int, dict, bytes]:
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(65536)
        raw, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *header_lines = raw.decode("latin-1").split("\r\n")
        head = {}
        for line in header_lines:
            key, _, value = line.partition(":")
            head.setdefault(key.strip().lower(), value.strip())
        size = int(head.get("content-length", "0"))
        while len(self.buffer) < size:
            self.buffer += self.sock.recv(65536)
        content, self.buffer = self.buffer[:size], self.buffer[size:]
        return int(status_line.split()[1]), head, content

    def close(self) -> None:
        self.sock.close()


def test_the_answer_and_its_time_do_not_tell_who_is_subscribed(engine, smtp_settings, smtpd):
    """Interleaved requests for an active address and for new ones (each of which makes a subscriber, a queue
    row and a real SMTP send): identical bodies, and the median of the paired differences within 3 ms or 40 % of the faster median. Before, the new
    address waited for its send. Each request starts once the previous one's work is done (a quiet server)."""
    from urllib.parse import urlencode

    seed(engine, NOW, subscribers=1)
    settings = limited(smtp_settings)
    times: dict[str, list[float]] = {"active": [], "new": []}
    bodies, mailed = set(), 0
    # the app's own SMTP mailer (from [smtp], pointing at the test server), closed when uvicorn stops
    with Served(create_app(settings, engine, clock=lambda: NOW)) as server:
        http = RawHttp(server.url)
        try:
            _, _, head, page = http.request("GET", "/digest/subscribe")
            csrf = re.search(rb'name="csrf" value="([^"]+)"', page).group(1).decode()
            form = {"Content-Type": "application/x-www-form-urlencoded",
                    "Cookie": head["set-cookie"].split(";")[0]}
            for n in range(ROUNDS + 2):
                for kind in (("active", "new") if n % 2 else ("new", "active")):
                    email = "reader1@example.com" if kind == "active" else f"new{n}@example.org"
                    body = urlencode({"csrf": csrf, "email": email}).encode()
                    elapsed, status, _, content = http.request("POST", "/digest/subscribe", body, form)
                    assert status == 200
                    bodies.add(content)
                    if n >= 2:  # two warm-up rounds
                        times[kind].append(elapsed)
                    mailed += kind == "new"
                    _quiet(smtpd, mailed)
        finally:
            http.close()
    assert len(bodies) == 1
    assert len(smtpd.handler.messages) == ROUNDS + 2  # the new addresses were mailed, after their answers
    active, new = statistics.median(times["active"]), statistics.median(times["new"])
    gap = statistics.median(n - a for n, a in zip(times["new"], times["active"]))  # paired: drift cancels out
    print(f"sign-up answer, median of {ROUNDS}: active {active * 1000:.2f} ms, new {new * 1000:.2f} ms, "
          f"paired gap {gap * 1000:+.2f} ms")
    assert abs(gap) <= max(0.003, 0.4 * min(new, active)), f"active {active * 1000:.2f} ms, new {new * 1000:.2f} ms"


def _quiet(smtpd, mailed: int) -> None:
    """Wait until the server has received `mailed` messages (the background work is done), then a little more."""
    deadline = time.monotonic() + 10
    while len(smtpd.handler.messages) < mailed and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(0.01)


@pytest.mark.parametrize("key, value", [("SIGNUP_LIMIT_IP", "lots"), ("SIGNUP_LIMIT_ADDRESS", "10/fortnight"),
                                        ("CONFIRM_WINDOW_HOURS", "nan"), ("CONFIRM_LINK_DAYS", "0")])
def test_bad_sign_up_settings_are_one_line_naming_the_key(key, value):
    from digest.config import load_settings
    from digest.errors import ConfigError
    from tests.conftest import ROOT

    with pytest.raises(ConfigError, match=key.lower()):
        load_settings(ROOT / "config.toml", environ={f"DIGEST_WEB_{key}": value})


@pytest.mark.parametrize("how", ["erase", "remove"])
def test_an_erased_or_removed_address_is_not_mailed_by_a_sign_up(engine, settings, how):
    """Only the hash of an erased address is left: a stranger's sign-up of it mails nothing and stores nothing."""
    from tests.factories import subscriber

    with store.session_scope(engine) as session:
        store.subscribers.upsert_subscribers(session, subscribers=[subscriber("left@example.org")], now=NOW)
    with store.session_scope(engine) as session:
        if how == "erase":
            store.subscribers.erase_subscriber(session, email="left@example.org", now=NOW)
        else:
            store.subscribers.delete_subscriber(session, email="left@example.org", now=NOW)
    mailer = RecordingMailer()
    with client_for(limited(settings), engine, mailer) as client:
        assert sign_up(client, email="Left@Example.org").status_code == 200
    assert mailer.messages == [] and confirmations(engine) == []
    with store.read_session(engine) as session:
        sub = store.subscribers.find_subscriber(session, email="left@example.org")
        assert (sub is None) if how == "erase" else (sub.status == "removed")
