"""The console's rules, shared by every /admin route: who is logged in (the session cookie), what their role
lets them do, the CSRF tokens of its forms, the login rate limits, and its pages.

* The session cookie is an HMAC token (`digest.tokens`, purpose "admin-session", DIGEST_SECRET_KEY) naming the
  account's id, the login time and the time it was last used; its MAC also covers the account's `stamp` (the
  password hash's last characters), so a new password or a removed account ends it. Unused for
  `[web] session_idle_minutes` it has expired; each request within the window renews it. HttpOnly,
  SameSite=Lax, Path = the console's path, Secure when `[sender] base_url` is https.
* `requires(role)` wraps an endpoint: anonymous → 302 to the login page (401 JSON when JSON is asked for),
  a role too low → 403, any method but GET without the session's CSRF token (form field or X-CSRF-Token) → 403.
"""

from __future__ import annotations

import functools
import hmac
from dataclasses import dataclass
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from digest.config import Settings
from digest.config.sections import PACKAGE_TEMPLATES
from digest.operations import admin as ops
from digest.tokens import make_token, read_token, token_subject
from digest.web.context import MAX_TOKEN, context
from digest.web.pages import CompiledTemplates, preload

SESSION_COOKIE = "digest_admin"
SESSION_PURPOSE = "admin-session"
CSRF_PURPOSE = "admin-form"
# the reader pages' CSP, and the console's own scripts and styles (/admin/static), its JSON, its preview frame
CONSOLE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' https: data:; "
               "connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
CONSOLE_CODE = CompiledTemplates()  # the console's compiled templates, shared by every app of the process
CLOCK_SKEW = 60  # seconds a session's "last used" may lie ahead of this process's clock


class Console:
    """What the console keeps for the app's life: its paths, login limits and page templates."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path = urlsplit(settings.sender.base_url).path.rstrip("/") + "/admin"
        self.secure = settings.sender.base_url.startswith("https:")
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.login_limits = parse_many(settings.web.admin_login_limit)
        self.env = Environment(loader=FileSystemLoader(str(PACKAGE_TEMPLATES / "web" / "admin")),
                               autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                               trim_blocks=True, lstrip_blocks=True, bytecode_cache=CONSOLE_CODE)

    def preload(self) -> list[str]:
        """Compiles every console template now (the app's start, `web.app`'s lifespan) rather than on the first
        request that renders it (edition.html alone about 50 ms); returns those that did not compile, left for
        their request to report."""
        return preload(self.env, self.env.list_templates(extensions=["html"]))

    def allow_login(self, client: str, email: str) -> bool:
        """Counts one attempt against the client's and the account's limits; False when either is over."""
        per_client = [self.limiter.hit(item, "admin-login-ip", client) for item in self.login_limits]
        per_account = [self.limiter.hit(item, "admin-login-account", email.strip().casefold())
                       for item in self.login_limits]
        return all(per_client) and all(per_account)

    def render(self, template: str, *, status_code: int = 200, user: Session | None = None, **values) -> HTMLResponse:
        body = self.env.get_template(template).render(
            base=self.path, user=user, csrf=user.csrf if user else "", list_name=self.settings.sender.list_name,
            **values)
        return HTMLResponse(body, status_code=status_code, headers={"content-security-policy": CONSOLE_CSP})


def console(request: Request) -> Console:
    return request.app.state.admin


@dataclass(frozen=True)
class Session:
    """The logged-in account of a request, and when its session began."""

    account: ops.AdminAccount
    issued: int  # seconds since the epoch
    csrf: str  # the token every form of this session carries


def _now(request: Request) -> int:
    return int(context(request).clock().timestamp())


def session_cookie(settings: Settings, account: ops.AdminAccount, issued: int, now: int) -> str:
    return make_token(settings.secret_key, SESSION_PURPOSE, account.id, settings.sender.list_id,
                      extra=f"{issued}.{now}", ident=account.stamp)


def _csrf(settings: Settings, account: ops.AdminAccount, issued: int) -> str:
    return make_token(settings.secret_key, CSRF_PURPOSE, account.id, settings.sender.list_id, extra=str(issued),
                      ident=account.stamp)


def current_session(request: Request) -> Session | None:
    """The request's session: a genuine cookie of an existing account, unchanged password, not idle too long."""
    ctx, cookie = context(request), request.cookies.get(SESSION_COOKIE, "")
    user_id = token_subject(cookie) if 0 < len(cookie) <= MAX_TOKEN else None
    account = ops.account(ctx.engine, user_id) if user_id is not None else None
    found = account and read_token(ctx.settings.secret_key, SESSION_PURPOSE, cookie, ctx.settings.sender.list_id,
                                   account.stamp)
    if not found:
        return None
    issued, _, seen = found[1].partition(".")
    now, idle = _now(request), ctx.settings.web.session_idle_minutes * 60
    if not (issued.isdigit() and seen.isdigit() and -CLOCK_SKEW <= now - int(seen) <= idle):
        return None
    return Session(account, int(issued), _csrf(ctx.settings, account, int(issued)))


def start_session(request: Request, response: Response, account: ops.AdminAccount) -> None:
    now = _now(request)
    _set_cookie(request, response, session_cookie(context(request).settings, account, now, now))


def end_session(request: Request, response: Response) -> None:
    site = console(request)
    response.delete_cookie(SESSION_COOKIE, path=site.path, secure=site.secure, httponly=True, samesite="lax")
    request.state.session_ended = True


def _set_cookie(request: Request, response: Response, value: str) -> None:
    site = console(request)
    response.set_cookie(SESSION_COOKIE, value, path=site.path, httponly=True, samesite="lax", secure=site.secure)


def wants_json(request: Request) -> bool:
    return request.url.path.endswith(".json") or "application/json" in request.headers.get("accept", "")


def refuse(request: Request, status: int, message: str) -> Response:
    """401 (anonymous: an HTML page is redirected to the login page instead) or 403."""
    site = console(request)
    if wants_json(request):
        return JSONResponse({"error": message}, status_code=status)
    if status == 401:
        return RedirectResponse(site.path + "/login", status_code=302)
    user = getattr(request.state, "admin_session", None)
    return site.render("message.html", status_code=status, user=user, title="Not allowed", text=message)


async def _csrf_ok(request: Request, user: Session) -> bool:
    submitted = request.headers.get("x-csrf-token")
    if submitted is None:
        async with request.form(max_files=0, max_fields=200) as form:
            submitted = form.get("csrf")
    return isinstance(submitted, str) and hmac.compare_digest(submitted.encode(), user.csrf.encode())


def requires(role: str):
    """The decorator of every /admin endpoint but the login page's: `endpoint(request, session)`."""
    def wrap(endpoint):
        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            user = await run_in_threadpool(current_session, request)
            if user is None:
                return refuse(request, 401, "login required")
            request.state.admin_session = user
            if not user.account.may(role):
                return refuse(request, 403, f"your role ({user.account.role}) cannot do this: it needs {role}")
            if request.method not in ("GET", "HEAD") and not await _csrf_ok(request, user):
                return refuse(request, 403, "this form has expired: reload the page and submit it again")
            response = await endpoint(request, user)
            if not getattr(request.state, "session_ended", False):  # renewed: the idle time starts again
                _set_cookie(request, response, session_cookie(context(request).settings, user.account,
                                                              user.issued, _now(request)))
            return response

        guarded.admin_role = role
        return guarded
    return wrap
