"""The operator's console (/admin of `digest serve`): accounts made by `digest admin`, logging in and out, the
rules every /admin route follows (anonymous, roles, CSRF), and the overview, whose figures are `digest status`'s."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import replace
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from starlette.routing import Mount
from starlette.testclient import TestClient
from typer.testing import CliRunner

from tests.test_migrations import HEAD
from digest.cli import app as cli_app
from digest.operations import admin as ops
from digest.pipeline import run_day
from digest.send import RecordingMailer
from digest.web import create_app
from tests.conftest import NOW, ROOT
from tests.factories import seed

pytestmark = pytest.mark.store

BASE = "https://news.example.com/digest"  # [sender] base_url: the console answers under /digest/admin
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def quick_hashes(monkeypatch):
    """argon2 with small parameters (real argon2id hashes, checked the same way): the default costs 0.2 s each."""
    monkeypatch.setattr(ops, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock(NOW)


def digest(settings, *args, input=None, env=None):
    environ = {"DIGEST_STORE_URL": settings.store.url, "DIGEST_SECRET_KEY": settings.secret_key, **(env or {})}
    return CliRunner().invoke(cli_app, ["--config", str(ROOT / "config.toml"), *args], input=input, env=environ)


def add(settings, engine, email, role="viewer", password=PASSWORD):
    return ops.add_user(settings, email, role=role, password=password, now=NOW, engine=engine)


@pytest.fixture
def client(settings, engine, clock):
    with TestClient(create_app(settings, engine, mailer=RecordingMailer(), clock=clock), base_url=BASE,
                    follow_redirects=False) as test_client:
        yield test_client


def login(client, email, password=PASSWORD):
    form = client.get("/admin/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    return client.post("/admin/login", data={"email": email, "password": password, "csrf": csrf})


def page_csrf(client) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/admin/").text).group(1)


# ── accounts: digest admin ─────────────────────────────────────────────────────────────────────────────────

def test_add_user_reads_the_password_from_stdin_and_it_logs_in(settings, engine, client):
    done = digest(settings, "admin", "add-user", "Ops@Example.com", "--role", "editor", input=PASSWORD + "\n")
    assert done.exit_code == 0, done.output
    assert "added ops@example.com (editor)" in done.output
    listed = json.loads(digest(settings, "admin", "list-users", "--json").stdout)
    assert [(u["email"], u["role"], u["last_login_at"]) for u in listed] == [("ops@example.com", "editor", None)]
    assert PASSWORD not in json.dumps(listed) and "password" not in json.dumps(listed)
    assert login(client, "ops@example.com").status_code == 303
    assert json.loads(digest(settings, "admin", "list-users", "--json").stdout)[0]["last_login_at"]


def test_add_user_reads_DIGEST_ADMIN_PASSWORD(settings, engine, client):
    done = digest(settings, "admin", "add-user", "boss@example.com", "--role", "admin",
                  env={"DIGEST_ADMIN_PASSWORD": PASSWORD})
    assert done.exit_code == 0, done.output
    assert login(client, "boss@example.com").status_code == 303
    assert login(client, "boss@example.com", "something else entirely").status_code == 401


def test_a_password_cannot_be_an_argument(settings, engine):
    done = digest(settings, "admin", "add-user", "ops@example.com", "--password", PASSWORD)
    assert done.exit_code == 2
    assert "No such option: --password" in done.output
    assert digest(settings, "admin", "list-users", "--json").stdout.strip() == "[]"


def test_a_short_password_is_one_line_and_nothing_is_added(settings, engine):
    done = digest(settings, "admin", "add-user", "ops@example.com", input="too short\n")
    assert done.exit_code == 1
    assert done.output.strip().splitlines() == ["error: password: must be at least 12 characters, got 9"]
    assert digest(settings, "admin", "list-users", "--json").stdout.strip() == "[]"


def test_no_password_a_bad_role_and_a_duplicate_are_one_line_each(settings, engine):
    assert digest(settings, "admin", "add-user", "ops@example.com", input="").output.count("\n") == 1
    bad_role = digest(settings, "admin", "add-user", "ops@example.com", "--role", "root", input=PASSWORD + "\n")
    assert bad_role.exit_code == 2 and "--role: expected viewer, editor, admin" in bad_role.output
    add(settings, engine, "ops@example.com")
    again = digest(settings, "admin", "add-user", "OPS@example.com", input=PASSWORD + "\n")
    assert again.exit_code == 1 and "has an account already" in again.output


def test_remove_user_and_set_password_end_sessions(settings, engine, client):
    add(settings, engine, "ops@example.com")
    assert login(client, "ops@example.com").status_code == 303
    assert client.get("/admin/").status_code == 200
    assert digest(settings, "admin", "set-password", "ops@example.com", input="a brand new password\n").exit_code == 0
    assert client.get("/admin/").status_code == 302  # the old session has ended
    assert login(client, "ops@example.com").status_code == 401  # and the old password
    assert login(client, "ops@example.com", "a brand new password").status_code == 303
    assert digest(settings, "admin", "remove-user", "ops@example.com").exit_code == 0
    assert client.get("/admin/").status_code == 302
    assert digest(settings, "admin", "remove-user", "ops@example.com").exit_code == 1


# ── sessions ───────────────────────────────────────────────────────────────────────────────────────────────

def test_login_sets_a_strict_session_cookie_and_logout_clears_it(settings, engine, client):
    add(settings, engine, "ops@example.com")
    done = login(client, "ops@example.com")
    assert done.status_code == 303 and done.headers["location"] == "/digest/admin/"
    cookie = next(c for c in done.headers.get_list("set-cookie") if c.startswith("digest_admin="))
    assert all(part in cookie.lower() for part in ("httponly", "samesite=lax", "path=/digest/admin", "secure"))
    page = client.get("/admin/")
    assert page.status_code == 200 and "ops@example.com" in page.text
    # scripts from the console's own static files only (the overview's charts and live progress), none inline
    assert "<script>" not in page.text and "script-src 'self';" in page.headers["content-security-policy"]
    out = client.post("/admin/logout", data={"csrf": page_csrf(client)})
    assert out.status_code == 303 and out.headers["location"] == "/digest/admin/login"
    assert client.get("/admin/").status_code == 302


def test_wrong_password_and_unknown_address_get_the_same_answer(settings, engine, client):
    add(settings, engine, "ops@example.com")
    wrong = login(client, "ops@example.com", "not the password at all")
    unknown = login(client, "nobody@example.com", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401

    def blank(text):
        return re.sub(r'value="[^"]*"', 'value=""', text)
    assert blank(wrong.text) == blank(unknown.text)
    assert "Wrong email or password." in wrong.text
    assert not [c for c in wrong.headers.get_list("set-cookie") if c.startswith("digest_admin=")]


def test_login_is_rate_limited_per_account_and_per_client(settings, engine, clock):
    add(settings, engine, "ops@example.com")
    app = create_app(settings, engine, mailer=RecordingMailer(), clock=clock)  # one app: one set of counters

    def from_ip(ip):
        return TestClient(app, base_url=BASE, follow_redirects=False, client=(ip, 50000))
    with from_ip("192.0.2.1") as first, from_ip("192.0.2.2") as second, from_ip("192.0.2.3") as third:
        assert [login(first, "ops@example.com", "wrong password number").status_code for _ in range(5)] == [401] * 5
        limited = login(second, "ops@example.com")  # another client, the right password: the account's limit
        assert limited.status_code == 429 and 'name="password"' in limited.text
        assert "Too many login attempts" in limited.text
        assert login(second, "other@example.com", "wrong password number").status_code == 401
        answers = [login(third, f"other{i}@example.com", "wrong password number").status_code for i in range(6)]
        assert answers == [401] * 5 + [429]  # one client, six accounts: the client's limit (5/minute)


def test_a_session_ends_after_the_idle_time_and_each_request_renews_it(settings, engine, client, clock):
    add(settings, engine, "ops@example.com")
    assert login(client, "ops@example.com").status_code == 303
    for _ in range(3):  # 3 × 50 minutes, each within the hour of the one before
        clock.now += timedelta(minutes=50)
        assert client.get("/admin/").status_code == 200
    clock.now += timedelta(minutes=61)
    assert client.get("/admin/").headers["location"] == "/digest/admin/login"


def test_a_forged_or_altered_session_cookie_is_anonymous(settings, engine, client):
    account = add(settings, engine, "ops@example.com", role="admin")
    from digest.web.admin.session import session_cookie

    stamp = int(NOW.timestamp())
    good = session_cookie(settings, account, stamp, stamp)
    client.cookies.set("digest_admin", good, domain="news.example.com", path="/digest/admin")
    assert client.get("/admin/users").status_code == 200
    client.cookies.set("digest_admin", good[:-1] + ("B" if good.endswith("A") else "A"), domain="news.example.com",
                       path="/digest/admin")
    assert client.get("/admin/users").status_code == 302


# ── the rules of every /admin route ────────────────────────────────────────────────────────────────────────

def admin_routes(app):
    """(path, method) of every registered route under /admin (the base path's Mount walked into)."""
    found = []

    def walk(routes, prefix):
        for route in routes:
            if isinstance(route, Mount):
                walk(route.routes, prefix + route.path)
            elif (prefix + route.path).startswith("/digest/admin"):
                found.extend((prefix + route.path, m) for m in route.methods if m != "HEAD")
    walk(app.routes, "")
    return found


def test_every_admin_route_refuses_anonymous_requests(client):
    routes = admin_routes(client.app)
    assert len(routes) >= 8 and ("/digest/admin/", "GET") in routes
    for path, method in routes:
        if path == "/digest/admin/login":
            continue
        url = re.sub(r"\{[^}]+\}", "1", path).removeprefix("/digest")  # the client's base URL has the prefix
        page = client.request(method, url)
        assert (page.status_code, page.headers.get("location")) == (302, "/digest/admin/login") or (
            page.status_code == 401 and page.json() == {"error": "login required"}), (method, path, page.status_code)
        asked = client.request(method, url, headers={"Accept": "application/json"})
        assert asked.status_code == 401 and asked.json() == {"error": "login required"}, (method, path)
    assert client.get("/admin/overview.json").status_code == 401
    assert client.get("/admin/login").status_code == 200


@pytest.mark.parametrize("role,allowed", [("viewer", False), ("editor", False), ("admin", True)])
def test_the_accounts_page_needs_the_admin_role(settings, engine, client, role, allowed):
    add(settings, engine, f"{role}@example.com", role=role)
    assert login(client, f"{role}@example.com").status_code == 303
    assert client.get("/admin/").status_code == 200  # every role looks
    assert client.get("/admin/users").status_code == (200 if allowed else 403)
    listed = client.get("/admin/users.json")
    assert listed.status_code == (200 if allowed else 403)
    if allowed:
        assert [u["email"] for u in listed.json()] == [f"{role}@example.com"]
    else:
        assert listed.json()["error"].startswith(f"your role ({role})")


def test_forms_without_their_csrf_token_are_refused(settings, engine, client):
    add(settings, engine, "ops@example.com")
    form = client.get("/admin/login")
    refused = client.post("/admin/login", data={"email": "ops@example.com", "password": PASSWORD,
                                                       "csrf": "forged.token"})
    assert form.status_code == 200 and refused.status_code == 403
    client.cookies.delete("digest_admin_form", domain="news.example.com", path="/digest/admin")  # token, no cookie
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    assert client.post("/admin/login", data={"email": "ops@example.com", "password": PASSWORD,
                                                    "csrf": token}).status_code == 403
    assert login(client, "ops@example.com").status_code == 303
    assert client.post("/admin/logout", data={}).status_code == 403
    assert client.post("/admin/logout", data={"csrf": "x" + page_csrf(client)}).status_code == 403
    assert client.get("/admin/").status_code == 200  # still logged in


# ── the overview ───────────────────────────────────────────────────────────────────────────────────────────

def test_the_overview_counts_are_those_of_digest_status(settings, engine, client):
    seed(engine, NOW, subscribers=4)
    asyncio.run(run_day(engine, settings, RecordingMailer(), NOW.date(), clock=lambda: NOW))
    add(settings, engine, "ops@example.com")
    assert login(client, "ops@example.com").status_code == 303
    doc = client.get("/admin/overview.json").json()
    status = json.loads(digest(settings, "status", "--json", "--date", NOW.date().isoformat()).stdout)
    (letter,) = doc["newsletters"]
    assert letter["key"] == "digest" and letter["due"] == []  # today's edition is planned already
    shown = {e["edition"]: (e["status"], e["counts"], e["total"]) for e in letter["editions"]
             if e["date"] == status["date"]}
    assert shown == {e["edition"]: (e["status"], e["counts"], e["total"]) for e in status["editions"]}
    assert shown[f"digest:{NOW.date()}"][1] == {"sent": 4}
    assert ops.overview(settings, NOW.date(), engine=engine).doc()["newsletters"][0]["editions"][0]["counts"] == \
        {"sent": 4}
    page = client.get("/admin/")
    assert f"digest:{NOW.date()}" in page.text and "<td class=\"n\">4</td>" in page.text


def test_the_overview_shows_todays_edition_due_before_it_is_planned(settings, engine, client):
    add(settings, engine, "ops@example.com")
    assert login(client, "ops@example.com").status_code == 303
    doc = client.get("/admin/overview.json").json()
    assert doc["today"] == NOW.date().isoformat()
    assert doc["newsletters"][0]["due"] == [{"edition": f"digest:{NOW.date()}", "date": NOW.date().isoformat(),
                                             "send_at": "07:00", "status": "due"}]
    assert doc["newsletters"][0]["editions"] == []


def test_the_overview_of_several_newsletters_shows_each_ones_editions_and_what_is_due(settings, engine, client):
    from digest.config.newsletters import Newsletter

    letters = (Newsletter(key="morning", name="The Morning", list_id="morning.example.com", from_name="Morning",
                          from_address="morning@example.com"),
               Newsletter(key="woche", name="Die Woche", list_id="woche.example.com", from_name="Woche",
                          from_address="woche@example.com", schedule="weekly:wed", language="de"))
    several = replace(settings, configured_newsletters=letters)
    found = ops.overview(several, NOW.date(), engine=engine)  # NOW is a Friday: no Woche today
    assert [(n.key, n.name, [d.edition for d in n.due]) for n in found.newsletters] == [
        ("morning", "The Morning", [f"morning:{NOW.date()}"]), ("woche", "Die Woche", [])]


# ── the store and the timing of a login ────────────────────────────────────────────────────────────────────

def test_0007_is_idempotent_when_opening_the_store_made_the_table_already(new_store_url):
    from sqlalchemy import create_engine
    from sqlmodel import SQLModel

    from digest.models import AdminUser
    from digest.store.migrate import schema_diff, upgrade

    engine = create_engine(new_store_url(empty=True))
    assert upgrade(engine, "0006") == (None, "0006")
    SQLModel.metadata.create_all(engine, tables=[AdminUser.__table__])  # what a read-write open does
    assert upgrade(engine) == ("0006", HEAD)
    assert schema_diff(engine) == []


def test_an_unknown_address_costs_an_argon2_check_too(settings, engine, monkeypatch):
    add(settings, engine, "ops@example.com")
    checked = []

    class Counting(PasswordHasher):
        def verify(self, hashed, password):
            checked.append(hashed)
            return super().verify(hashed, password)
    monkeypatch.setattr(ops, "HASHER", Counting(time_cost=1, memory_cost=1024, parallelism=1))
    assert ops.authenticate(engine, "nobody@example.com", PASSWORD, now=NOW) is None
    assert ops.authenticate(engine, "not an address", PASSWORD, now=NOW) is None
    assert ops.authenticate(engine, "ops@example.com", "wrong password here", now=NOW) is None
    assert len(checked) == 3 and all(h.startswith("$argon2id$") for h in checked)
    assert ops.authenticate(engine, "OPS@example.com", PASSWORD, now=NOW).email == "ops@example.com"
