"""The console's pages: log in and out, the overview (HTML and JSON), the accounts. Each handler calls one
`digest.operations` function; the overview's figures are `day_status`'s, what `digest status` shows.

The login form is protected like the sign-up form (a signed token and a `SameSite=Strict` cookie holding the
same nonce); a wrong password and an unknown address get the same answer, in about the same time.
"""

from __future__ import annotations

import hmac
import json
import secrets
from datetime import datetime, timezone

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from digest.operations import admin as ops
from digest.operations.charts import Charts, overview_charts as charts_of
from digest.tokens import make_token
from digest.web.admin.session import Session, console, end_session, requires, start_session
from digest.web.context import context
from digest.web.guard import client_address

LOGIN_PURPOSE = "admin-login-form"
LOGIN_COOKIE = "digest_admin_form"
LOGIN_FORM_AGE = 3600  # seconds a login form stays valid
WRONG = "Wrong email or password."


def _login_form(request: Request, *, error: str | None = None, email: str = "", status_code: int = 200) -> Response:
    ctx, site = context(request), console(request)
    nonce = secrets.token_urlsafe(16)
    now = int(ctx.clock().timestamp())
    token = make_token(ctx.settings.secret_key, LOGIN_PURPOSE, 0, ctx.settings.sender.list_id, f"{now}.{nonce}")
    page = site.render("login.html", title="Log in", error=error, email=email, csrf_login=token,
                       status_code=status_code)
    page.set_cookie(LOGIN_COOKIE, nonce, max_age=LOGIN_FORM_AGE, path=site.path, httponly=True, samesite="strict",
                    secure=site.secure)
    return page


def _login_form_ok(request: Request, submitted: object) -> bool:
    ctx = context(request)
    found = ctx.check(LOGIN_PURPOSE, submitted)
    if found is None:
        return False
    issued, _, nonce = found[1].partition(".")
    fresh = issued.isdigit() and 0 <= ctx.clock().timestamp() - int(issued) <= LOGIN_FORM_AGE
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    return fresh and bool(nonce) and hmac.compare_digest(cookie.encode(), nonce.encode())


def login_page(request: Request) -> Response:
    return _login_form(request)


async def login(request: Request) -> Response:
    ctx, site = context(request), console(request)
    async with request.form(max_files=0, max_fields=10) as form:
        email, password = str(form.get("email") or "")[:320], str(form.get("password") or "")
        submitted = form.get("csrf")
    if not _login_form_ok(request, submitted):
        return _login_form(request, error="This form has expired. Please log in again.", email=email,
                           status_code=403)
    if not site.allow_login(client_address(request), email):
        return _login_form(request, error="Too many login attempts. Wait a few minutes and try again.",
                           email=email, status_code=429)
    account = await run_in_threadpool(ops.authenticate, ctx.engine, email, password, now=ctx.clock())
    if account is None:
        return _login_form(request, error=WRONG, email=email, status_code=401)
    response = RedirectResponse(site.path + "/", status_code=303)
    start_session(request, response, account)
    response.delete_cookie(LOGIN_COOKIE, path=site.path, secure=site.secure, httponly=True, samesite="strict")
    return response


@requires("viewer")
async def logout(request: Request, user: Session) -> Response:
    response = RedirectResponse(console(request).path + "/login", status_code=303)
    end_session(request, response)
    return response


@requires("viewer")
async def home(request: Request, user: Session) -> Response:
    return RedirectResponse(console(request).path + "/", status_code=302)


def _overview(request: Request) -> ops.Overview:
    ctx = context(request)
    today = ctx.clock().astimezone(ctx.settings.tz).date()
    return ops.overview(ctx.settings, today, engine=ctx.engine)


def overview_charts(request: Request) -> Charts:
    """The overview with its charts' figures (`operations.charts`): the page and `/admin/charts.json`."""
    ctx = context(request)
    today = ctx.clock().astimezone(ctx.settings.tz).date()
    return charts_of(ctx.settings, today, engine=ctx.engine)


@requires("viewer")
async def overview_page(request: Request, user: Session) -> Response:
    figures = await run_in_threadpool(overview_charts, request)
    found = figures.overview
    statuses = sorted({s for letter in found.newsletters for _, e in letter.editions for s in e.counts})
    return console(request).render("overview.html", title="Overview", user=user, overview=found,
                                   statuses=statuses, charts=figures)


@requires("viewer")
async def overview_json(request: Request, user: Session) -> Response:
    found = await run_in_threadpool(_overview, request)
    return json_response(found.doc())


@requires("admin")
async def users_page(request: Request, user: Session) -> Response:
    ctx = context(request)
    accounts = await run_in_threadpool(ops.list_users, ctx.settings, engine=ctx.engine)
    return console(request).render("users.html", title="Accounts", user=user, accounts=accounts)


@requires("admin")
async def users_json(request: Request, user: Session) -> Response:
    ctx = context(request)
    accounts = await run_in_threadpool(ops.list_users, ctx.settings, engine=ctx.engine)
    return json_response([a.doc() for a in accounts])


def json_response(value) -> Response:
    """JSON as `digest ... --json` writes it (times in UTC, ending in Z)."""
    return Response(json.dumps(value, ensure_ascii=False, default=_json_default), media_type="application/json")


def _json_default(value):
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return str(value)
