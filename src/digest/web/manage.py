""""Manage my subscriptions" (`GET/POST /manage`) for a reader who lost every link: an address in, a magic link
to their preference centre out (`operations.manage`).

The answer is the same, byte for byte and in the same time, whether the address is a subscriber's or not,
and whether or not a rate limit was reached: nothing about the address is looked up, and no limit is
counted, before the response is sent. After it, a background task counts the limits (per client IP and per
address: `[web] signup_limit_ip` and `signup_limit_address`, counted apart from the sign-ups), looks the
address up and, for a subscriber within the limits, sends the email. The form carries the sign-up form's
CSRF token and cookie (`web.guard`).
"""

from __future__ import annotations

import logging

from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from digest.config import Settings
from digest.i18n import N_
from digest.ingest.subscribers import normalize_email
from digest.operations import manage as ops
from digest.web import guard
from digest.web.context import WebContext, context

log = logging.getLogger("digest.web")


class ManageLimits:
    """The sign-up limits' settings, counted in their own moving windows."""

    def __init__(self, settings: Settings) -> None:
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.per_ip = parse_many(settings.web.signup_limit_ip)
        self.per_address = parse_many(settings.web.signup_limit_address)

    def allow(self, client: str, address: str) -> bool:
        by_ip = all([self.limiter.hit(item, "manage-ip", client) for item in self.per_ip])
        by_address = all([self.limiter.hit(item, "manage-address", address.casefold()) for item in self.per_address])
        return by_ip and by_address


def manage_page(request: Request) -> HTMLResponse:
    return _form(context(request), request)


def _form(ctx: WebContext, request: Request, *, error: str | None = None, email: str = "",
          status_code: int = 200) -> HTMLResponse:
    csrf, nonce = guard.new_form(ctx)
    page = ctx.pages.render("manage.html", title=N_("Manage your subscriptions"), error=error, email=email,
                            csrf=csrf, status_code=status_code, language=ctx.settings.newsletter().language)
    guard.set_form_cookie(request, page, nonce)
    return page


async def manage(request: Request) -> HTMLResponse:
    ctx = context(request)
    async with request.form(max_files=0, max_fields=20) as form:
        email, csrf = str(form.get("email") or "")[:320], form.get("csrf")
    if not guard.form_ok(ctx, request, csrf):
        return _form(ctx, request, error=N_("This form has expired. Please submit it again."), email=email,
                     status_code=403)
    try:
        address = normalize_email(email)
    except ValueError:
        return _form(ctx, request, error=N_("Please enter a valid email address."), email=email, status_code=400)
    response = ctx.pages.render("manage_sent.html", title=N_("Check your inbox"),
                                language=ctx.settings.newsletter().language)
    response.background = BackgroundTask(send_link, ctx, request.app.state.manage_limits,
                                         guard.client_address(request), address)
    return response


async def send_link(ctx: WebContext, limits: ManageLimits, client: str, address: str) -> None:
    """After the answer: within the limits, a known address gets its magic link."""
    try:
        if limits.allow(client, address):
            await ops.send_manage_link(ctx.engine, ctx.settings, ctx.get_mailer(), email=address, now=ctx.clock())
    except Exception:  # noqa: BLE001 - the reader has had their answer; they may ask again
        log.exception("manage: link not sent")


ROUTES = [
    Route("/manage", manage_page, methods=["GET"]),
    Route("/manage", manage, methods=["POST"]),
]
